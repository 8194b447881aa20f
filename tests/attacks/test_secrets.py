"""A secret a flow reads never shows in a log line, an output, an error, or an API answer:
printed whole, split across the script's writes, inside JSON, base64-encoded, in a
traceback, in an error message."""

from __future__ import annotations

import base64
import json

from tests.attacks.conftest import SECRET_VALUE, Server

SECRET_B64 = base64.b64encode(SECRET_VALUE.encode()).decode()

LEAKY = """
id: leaky
namespace: attacks
tasks:
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    env: {TOKEN: "{{ secret('TOKEN') }}"}
    commands:
      - |
        echo "plain $TOKEN"
        printf 'split %s' "$(echo "$TOKEN" | cut -c1-6)"; sleep 0.3; printf '%s\\n' "$(echo "$TOKEN" | cut -c7-)"
        printf '{"token": "%s", "nested": {"t": "%s"}}\\n' "$TOKEN" "$TOKEN"
        printf '%s' "$TOKEN" | base64
        printf 'b64 in text: %s.\\n' "$(printf '%s' "$TOKEN" | base64)"
        printf '::{"outputs":{"token":"%s","b64":"%s"}}::\\n' "$TOKEN" "$(printf '%s' "$TOKEN" | base64)"
        echo "to stderr $TOKEN" >&2
  - id: python
    type: io.kestra.plugin.scripts.python.Script
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    env: {TOKEN: "{{ secret('TOKEN') }}"}
    allowFailure: true
    script: |
      import os, json
      print(json.dumps({"deep": [{"t": os.environ["TOKEN"]}]}))
      raise RuntimeError("failed with " + os.environ["TOKEN"])
  - id: logged
    type: io.kestra.plugin.core.log.Log
    message: "log {{ secret('TOKEN') }} and {{ secret('TOKEN') | upper }}"
  - id: returned
    type: io.kestra.plugin.core.debug.Return
    format: "{{ secret('TOKEN') }}"
  - id: fail
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: "it broke: {{ secret('TOKEN') }}"
outputs:
  - {id: out, type: STRING, value: "{{ outputs.returned.value }}"}
"""


def leaks(text: str) -> list[str]:
    escaped = json.dumps(SECRET_VALUE)[1:-1]
    return [form for form in (SECRET_VALUE, escaped, SECRET_B64) if form in text]


async def test_a_secret_is_masked_everywhere(server: Server) -> None:
    await server.deploy(LEAKY)
    execution = await server.run("attacks", "leaky")
    assert execution["state"]["current"] == "FAILED"
    answers = {"POST ?wait=true": json.dumps(execution)}
    for path in (
        f"/api/v1/executions/{execution['id']}",
        f"/api/v1/logs/{execution['id']}",
        f"/api/v1/logs/{execution['id']}/download",
        "/api/v1/executions/search",
        "/api/v1/logs/search?q=token",
    ):
        async with server.http.get(server.base + path) as answer:
            answers[path] = await answer.text()
            assert answer.status == 200, (path, answer.status)
    messages = json.loads(answers[f"/api/v1/logs/{execution['id']}"])
    texts = [m["message"] for m in messages]
    assert any("plain ******" in t for t in texts), texts  # the lines are there, masked
    assert any("split ******" in t for t in texts), texts
    assert {where: leaks(text) for where, text in answers.items() if leaks(text)} == {}


def test_base64_forms_are_masked_at_every_alignment() -> None:
    from engine.templating.secrets import SecretStore

    store = SecretStore({"SECRET_T": SECRET_B64})
    assert store.get("T") == SECRET_VALUE
    for prefix in ("", "u", "us", "user:", "a much longer prefix:"):
        for suffix in ("", "\n", ":x"):
            data = (prefix + SECRET_VALUE + suffix).encode()
            for encoded in (base64.b64encode(data), base64.urlsafe_b64encode(data)):
                text = f"header {encoded.decode()} trailer"
                masked = store.mask(text)
                assert "******" in masked, (prefix, suffix, text)
                # what is left of the encoding no longer decodes to the secret
                assert SECRET_VALUE[2:-2].encode() not in _decodable(masked)


def _decodable(text: str) -> bytes:
    out = b""
    for word in text.replace("******", " ").split():
        for start in range(4):
            chunk = word[start:]
            chunk = chunk[: len(chunk) // 4 * 4]
            try:
                out += base64.b64decode(chunk, validate=False) + b"|"
            except ValueError:
                pass
    return out


def test_short_secrets_do_not_mask_ordinary_base64() -> None:
    from engine.templating.secrets import SecretStore

    store = SecretStore({"SECRET_S": base64.b64encode(b"abc").decode()})
    store.get("S")
    assert store.mask("YWJjZGVm") == "YWJjZGVm"  # base64 of "abcdef": not a secret's form
