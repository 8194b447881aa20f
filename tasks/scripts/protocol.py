"""Kestra's script protocol: what the lines a script prints mean.

A script talks to the orchestrator through its standard streams, one line at a time:

    ::{"outputs": {"rows": 42}}::                          -> outputs.<task>.vars (merged)
    ::{"metrics": [{"name": "rows", "type": "counter",
                    "value": 42, "tags": {"table": "t"}}]}::  -> a metric of the task run
    ::{"logs": [{"level": "WARN", "message": "careful"}]}::   -> a log line at that level

(the `kestra` package on PyPI prints exactly these). A line is a protocol line only when
the whole line is `::{…}::`, on either stream, as in Kestra's `TaskLogLineMatcher`.
Every other line is logged: stdout at INFO, stderr at ERROR.

stderr and the task's state: since Kestra 0.21 stderr lines are ERROR logs (kestra#6383),
and since 0.23 they no longer turn a successful task into WARNING (plugin-scripts#233):
only the exit code decides. Kestra 1.x keeps `warningOnStdErr` as a deprecated property
that does nothing, and so does Podium: it is accepted, and stderr never sets WARNING.

Every line is masked (`ctx.mask`) before it is logged. Lines are whole when masked, so a
secret written in two flushes is still hidden; a line longer than `MAX_LINE_CHARS` is cut
into pieces of that size, so memory stays bounded whatever a script prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from engine.durations import parse_duration

__all__ = [
    "MAX_LINE_CHARS",
    "LineSplitter",
    "Message",
    "MetricPoint",
    "OutputCollector",
    "ProtocolError",
    "Stream",
    "parse_line",
]

Stream = Literal["stdout", "stderr"]
OnLine = Callable[[Stream, str], None]

MAX_LINE_CHARS = 1 << 20  # one line is at most 1 Mi characters; longer ones are split

METRIC_KINDS = ("counter", "timer", "gauge")
LOG_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}
_LEVEL_ALIASES = {"WARNING": "WARN", "CRITICAL": "ERROR", "FATAL": "ERROR"}


class ProtocolError(ValueError):
    """A `::{…}::` line that is not valid: bad JSON or a malformed entry."""


@dataclass(frozen=True, slots=True)
class MetricPoint:
    name: str
    kind: str
    value: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Message:
    """What one protocol line carries."""

    outputs: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[MetricPoint, ...] = ()
    logs: tuple[tuple[str, str], ...] = ()  # (level, message)


class LineSplitter:
    """Turns text chunks into lines without ever holding more than `limit` characters."""

    def __init__(self, limit: int = MAX_LINE_CHARS) -> None:
        self.limit = limit
        self._pending = ""

    def __repr__(self) -> str:
        return f"<LineSplitter pending={len(self._pending)}>"

    def feed(self, text: str) -> list[str]:
        if not text:
            return []
        parts = (self._pending + text).split("\n")
        self._pending = parts.pop()
        lines: list[str] = []
        for part in parts:
            lines.extend(self._bounded(part.removesuffix("\r")))
        while len(self._pending) > self.limit:
            lines.append(self._pending[: self.limit])
            self._pending = self._pending[self.limit :]
        return lines

    def close(self) -> list[str]:
        """The last line, if the stream did not end with a newline."""
        rest, self._pending = self._pending.removesuffix("\r"), ""
        return self._bounded(rest) if rest else []

    def _bounded(self, line: str) -> list[str]:
        if len(line) <= self.limit:
            return [line]
        return [line[i : i + self.limit] for i in range(0, len(line), self.limit)]


def parse_line(line: str) -> Message | None:
    """The message a protocol line carries, None for an ordinary line.

    Raises ProtocolError for a line shaped like `::{…}::` whose content is invalid.
    """
    if not (line.startswith("::{") and line.endswith("}::")):
        return None
    try:
        data = orjson.loads(line[2:-2])
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("the payload is not a JSON object")
    outputs = data.get("outputs") or {}
    if not isinstance(outputs, dict):
        raise ProtocolError("'outputs' must be an object")
    return Message(
        outputs=outputs,
        metrics=tuple(_metric(entry) for entry in _entries(data, "metrics")),
        logs=tuple(_log(entry) for entry in _entries(data, "logs")),
    )


def _entries(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    entries = data.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ProtocolError(f"'{key}' must be a list of objects")
    return entries


def _metric(entry: Mapping[str, Any]) -> MetricPoint:
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ProtocolError("a metric needs a 'name'")
    kind = str(entry.get("type") or "counter").lower()
    if kind not in METRIC_KINDS:
        raise ProtocolError(f"metric {name!r}: unknown type {kind!r}")
    value = entry.get("value")
    if kind == "timer" and isinstance(value, str):
        # Kestra reads a timer as a java.time.Duration: seconds, or ISO-8601 text.
        try:
            value = parse_duration(value).total_seconds()
        except ValueError as exc:
            raise ProtocolError(f"metric {name!r}: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(f"metric {name!r}: the value must be a finite number")
    tags = entry.get("tags") or {}
    if not isinstance(tags, dict):
        raise ProtocolError(f"metric {name!r}: 'tags' must be an object")
    return MetricPoint(name, kind, float(value), {str(k): str(v) for k, v in tags.items()})


def _log(entry: Mapping[str, Any]) -> tuple[str, str]:
    level = str(entry.get("level") or "INFO").upper()
    level = _LEVEL_ALIASES.get(level, level)
    return (level if level in LOG_LEVELS else "INFO"), str(entry.get("message", ""))


class ScriptSink(Protocol):
    """The part of a RunContext the collector needs (a fake one in unit tests)."""

    def mask(self, text: str) -> str: ...

    def metric(
        self,
        name: str,
        value: float,
        *,
        kind: str = "counter",
        tags: Mapping[str, str] | None = None,
    ) -> None: ...

    @property
    def logger(self) -> Any: ...


class OutputCollector:
    """Receives every line of a running script: logs it, or applies what it carries."""

    def __init__(self, ctx: ScriptSink) -> None:
        self._ctx = ctx
        self.vars: dict[str, Any] = {}
        self.counts: dict[Stream, int] = {"stdout": 0, "stderr": 0}

    def __repr__(self) -> str:
        return f"<OutputCollector vars={len(self.vars)} lines={self.counts}>"

    def __call__(self, stream: Stream, line: str) -> None:
        self.counts[stream] += 1
        logger = self._ctx.logger
        try:
            message = parse_line(line)
        except ProtocolError as exc:
            logger.warning(self._ctx.mask(f"invalid Kestra protocol line ({exc}): {line}"))
            return
        if message is None:
            logger.log("ERROR" if stream == "stderr" else "INFO", self._ctx.mask(line))
            return
        self.vars.update(message.outputs)
        for point in message.metrics:
            self._ctx.metric(point.name, point.value, kind=point.kind, tags=point.tags)
        for level, text in message.logs:
            logger.log(level, self._ctx.mask(text))
