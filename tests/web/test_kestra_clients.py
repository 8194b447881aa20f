"""Existing Kestra clients, unchanged, against a real server: the `kestra` Python package
(`Flow().execute`, which creates an execution, polls it and downloads its logs) and the
curl calls of Kestra's documentation."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from kestra import Flow

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.web.conftest import Api

GREET = """
id: greet
namespace: company.team
inputs:
  - {id: user, type: STRING}
  - {id: report, type: FILE, required: false}
tasks:
  - {id: hello, type: io.kestra.plugin.core.log.Log, message: "Hello {{ inputs.user }}"}
"""


def _kestra_flow(
    monkeypatch: pytest.MonkeyPatch, api: Api, password: str, **options: object
) -> Flow:
    monkeypatch.setenv("KESTRA_HOSTNAME", api.base)
    monkeypatch.setenv("KESTRA_USER", ADMIN_USER)
    monkeypatch.setenv("KESTRA_PASSWORD", password)
    flow = Flow(poll_interval=0.2, **options)  # type: ignore[arg-type]
    if not hasattr(flow, "password"):
        # kestra 2.0 documents KESTRA_PASSWORD but reads only KESTRA_USER itself
        flow.password = password
    return flow


async def test_the_kestra_python_package_runs_a_flow_and_reads_its_logs(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    await api.deploy(GREET)
    flow = _kestra_flow(monkeypatch, api, ADMIN_PASSWORD)
    result = await asyncio.to_thread(flow.execute, "company.team", "greet", {"user": "Ada"})
    assert result.status == "SUCCESS"
    assert "Hello Ada" in result.log
    stored = await api.json("GET", f"/api/v1/executions/{result.execution_id}")
    assert stored["inputs"]["user"] == "Ada"

    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    tenant = _kestra_flow(monkeypatch, api, ADMIN_PASSWORD, tenant="main", labels_from_inputs=True)
    with report.open("rb") as handle:
        result = await asyncio.to_thread(
            tenant.execute,
            "company.team",
            "greet",
            {"user": "Bob", "report": ("report", handle, "text/csv")},
        )
    assert result.status == "SUCCESS"
    stored = await api.json("GET", f"/api/v1/executions/{result.execution_id}")
    assert stored["inputs"]["report"].endswith("/inputs/report/report")
    assert {"key": "user", "value": "Bob"} in stored["labels"]

    wrong = _kestra_flow(monkeypatch, api, "not the password")
    with pytest.raises(Exception, match="Authentication required"):
        await asyncio.to_thread(wrong.execute, "company.team", "greet", {"user": "Eve"})


def _curl(*args: str) -> tuple[int, str]:
    done = subprocess.run(
        ["curl", "-s", "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_curl_examples_of_kestras_documentation(api: Api, tmp_path: Path) -> None:
    flow_file = tmp_path / "greet.yaml"
    flow_file.write_text(GREET)
    status, body = await asyncio.to_thread(
        _curl, "-X", "POST", f"{api.base}/api/v1/flows",
        "-H", "Content-Type:application/x-yaml", "--data-binary", f"@{flow_file}",
    )  # fmt: skip
    assert status == 200 and json.loads(body)["id"] == "greet"
    report = tmp_path / "data.csv"
    report.write_text("x\n1\n")
    status, body = await asyncio.to_thread(
        _curl, "-X", "POST",
        f"{api.base}/api/v1/main/executions/company.team/greet?labels=env:dev&wait=true",
        "-H", "Content-Type: multipart/form-data",
        "-F", "user=Kestra", "-F", f"report=@{report}",
    )  # fmt: skip
    assert status == 200
    execution = json.loads(body)
    assert execution["state"]["current"] == "SUCCESS"
    assert {"key": "env", "value": "dev"} in execution["labels"]
    status, body = await asyncio.to_thread(_curl, f"{api.base}/api/v1/executions/{execution['id']}")
    assert status == 200 and json.loads(body)["taskRunList"][0]["taskId"] == "hello"
    status, body = await asyncio.to_thread(
        _curl, f"{api.base}/api/v1/logs/{execution['id']}/download"
    )
    assert status == 200 and "Hello Kestra" in body
    status, body = await asyncio.to_thread(
        _curl, "-X", "POST", f"{api.base}/api/v1/executions/trigger/company.team/greet", "-F", "user=old"
    )  # fmt: skip
    assert status == 200 and json.loads(body)["inputs"] == {"user": "old"}
    status, body = await asyncio.to_thread(
        _curl, "-X", "DELETE", f"{api.base}/api/v1/flows/company.team/greet"
    )
    assert status == 204
