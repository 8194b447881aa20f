"""The `jq` filter: real jq (the `jq` binding of libjq), run outside the engine's process.

A jq program can loop forever (`repeat(.)`, `range(1e18)`) or build a huge value inside
the C library, where no deadline can be checked and no thread can be stopped. So programs
never run in the engine's process: one long-lived worker process runs them one at a time,
the caller waits at most the render's remaining time, and a worker that overruns (or dies)
is killed and replaced on the next call. The worker caps its own memory, and the results
are refused once their JSON passes the render's output limit.

Like Kestra's `JqFilter`, the filter returns the list of every value the program emits
(`{{ data | jq('.items[].id') | first }}`); a string input is read as JSON text.

jq can also read the environment (`env`, `$ENV`: the secrets live there), modules and
data files from disk (`import`, `include`) and further inputs: programs naming those are
refused, and the worker starts with an empty environment anyway.
"""

from __future__ import annotations

import atexit
import os
import re
import select
import subprocess
import sys
import threading
import time
from typing import Any

import orjson

from engine.errors import TemplateError
from engine.templating.bounds import current_budget
from engine.templating.output import to_json

__all__ = ["JqWorker", "jq_filter"]

MAX_PROGRAM_CHARS = 10_000
_REFUSED = re.compile(
    r"\$ENV\b|\$__\w+|(?<![\w$.])(?:env|import|include|input|inputs|input_filename|debug"
    r"|stderr|halt|halt_error|get_search_list|modulemeta|input_line_number)\b"
)
WORKER_MEMORY_BYTES = 512 * 1024 * 1024

# The worker imports nothing of Podium (no Jinja, no engine): it starts in milliseconds.
_WORKER_SOURCE = r"""
import json, resource, sys
memory = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
import jq
compiled = {}
for line in sys.stdin:
    request = json.loads(line)
    try:
        program = compiled.get(request["p"])
        if program is None:
            if len(compiled) > 256:
                compiled.clear()
            program = compiled[request["p"]] = jq.compile(request["p"])
        size, out = 0, []
        for value in program.input_text(request["i"]):
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            size += len(text) + 1
            if size > request["max"]:
                raise ValueError(f"its results are longer than {request['max']} characters")
            out.append(text)
        reply = '{"ok":[' + ",".join(out) + "]}"
    except MemoryError:
        reply = json.dumps({"error": "it ran out of memory"})
    except Exception as exc:
        reply = json.dumps({"error": str(exc).strip() or type(exc).__name__})
    sys.stdout.write(reply + "\n")
    sys.stdout.flush()
"""


class JqWorker:
    """One worker process, started on first use; calls are serialized by a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        pid = self._process.pid if self._process is not None else None
        return f"<JqWorker pid={pid}>"

    def run(self, program: str, input_json: str, *, timeout: float, max_chars: int) -> list[Any]:
        """Every value `program` emits for the JSON text `input_json`."""
        request = orjson.dumps({"p": program, "i": input_json, "max": max_chars}) + b"\n"
        if not self._lock.acquire(timeout=timeout):
            raise TemplateError(f"jq: the jq worker stayed busy for {timeout:.2f}s")
        try:
            process = self._started()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(request)
                process.stdin.flush()
                reply = _read_line(process.stdout.fileno(), time.monotonic() + timeout)
            except (BrokenPipeError, TimeoutError, EOFError) as exc:
                self.close()
                if isinstance(exc, TimeoutError):
                    raise TemplateError(f"jq: the program ran longer than {timeout:.2f}s") from None
                raise TemplateError("jq: the program crashed the jq worker") from None
        finally:
            self._lock.release()
        answer = orjson.loads(reply)
        if "error" in answer:
            raise TemplateError(f"jq: cannot run {program!r}: {answer['error']}")
        return list(answer["ok"])

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-c", _WORKER_SOURCE, str(WORKER_MEMORY_BYTES)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                env={},  # `env` and `$ENV` in a program see nothing
            )
        return self._process

    def close(self) -> None:
        """Stop the worker (safe to call twice); the next call starts a new one."""
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def _read_line(fd: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, 65536)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)


def _code_only(program: str) -> str:
    """`program` without its string literals and comments, so a refused word inside a
    string (`select(.kind == "input")`) is not mistaken for code; an interpolation
    `"\\(...)"` is code and stays."""
    out: list[str] = []
    depths: list[int] = []  # open parentheses inside each enclosing interpolation
    in_string = False
    index = 0
    while index < len(program):
        char = program[index]
        if in_string:
            if char == "\\" and program[index + 1 : index + 2] == "(":
                depths.append(0)
                in_string = False
                out.append(" ")
                index += 2
                continue
            index += 2 if char == "\\" else 1
            if char == '"':
                in_string = False
                out.append('""')
            continue
        if char == '"':
            in_string = True
        elif char == "#":
            newline = program.find("\n", index)
            index = len(program) if newline < 0 else newline
            continue
        elif depths and char == "(":
            depths[-1] += 1
        elif depths and char == ")":
            if depths[-1] == 0:
                depths.pop()
                in_string = True  # back inside the string the interpolation was in
                index += 1
                continue
            depths[-1] -= 1
        if char != '"':
            out.append(char)
        index += 1
    return "".join(out)


WORKER = JqWorker()
atexit.register(WORKER.close)


def jq_filter(value: Any, expression: str) -> list[Any] | None:
    """`{{ value | jq('.a[]') }}`: the list of the program's results."""
    if value is None:
        return None
    if not isinstance(expression, str) or not expression.strip():
        raise TemplateError("jq: the expression must be a non-empty string")
    if len(expression) > MAX_PROGRAM_CHARS:
        raise TemplateError(f"jq: the expression is longer than {MAX_PROGRAM_CHARS} characters")
    refused = _REFUSED.search(_code_only(expression))
    if refused is not None:
        raise TemplateError(f"jq: {refused.group()!r} is not allowed in templates")
    text = value if isinstance(value, str) else to_json(value)
    budget = current_budget()
    budget.check_deadline()
    timeout = max(budget.deadline - time.monotonic(), 0.001)
    return WORKER.run(expression, text, timeout=timeout, max_chars=budget.max_output_chars)
