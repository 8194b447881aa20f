"""The script protocol parser and the line splitter, without running anything."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tasks.scripts.protocol import (
    LineSplitter,
    MetricPoint,
    OutputCollector,
    ProtocolError,
    parse_line,
)


class FakeLogger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def log(self, level: str, message: str) -> None:
        self.lines.append((level, message))

    def warning(self, message: str) -> None:
        self.log("WARN", message)


class FakeContext:
    def __init__(self) -> None:
        self.logger = FakeLogger()
        self.metrics: list[tuple[str, float, str, dict[str, str]]] = []

    def mask(self, text: str) -> str:
        return text.replace("hunter2", "******")

    def metric(
        self,
        name: str,
        value: float,
        *,
        kind: str = "counter",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.metrics.append((name, value, kind, dict(tags or {})))


def test_ordinary_lines_are_not_protocol_lines() -> None:
    assert parse_line("hello") is None
    assert parse_line('::{"outputs": {}}:: trailing') is None
    assert parse_line(' ::{"outputs": {}}::') is None


def test_outputs_metrics_and_logs_as_the_kestra_package_prints_them() -> None:
    message = parse_line(
        '::{"outputs": {"a": 1}, "metrics": [{"name": "rows", "type": "counter", '
        '"value": 3, "tags": {"t": 1}}, {"name": "took", "type": "timer", "value": "PT1.5S"}],'
        ' "logs": [{"level": "WARNING", "message": "careful"}, {"level": "nope"}]}::'
    )
    assert message is not None
    assert message.outputs == {"a": 1}
    assert message.metrics == (
        MetricPoint("rows", "counter", 3.0, {"t": "1"}),
        MetricPoint("took", "timer", 1.5, {}),
    )
    assert message.logs == (("WARN", "careful"), ("INFO", ""))


@pytest.mark.parametrize(
    "line",
    [
        "::{not json}::",
        '::{"outputs": [1]}::',
        '::{"metrics": [{"type": "counter", "value": 1}]}::',
        '::{"metrics": [{"name": "x", "type": "histogram", "value": 1}]}::',
        '::{"metrics": [{"name": "x", "value": "many"}]}::',
        '::{"metrics": [{"name": "x", "value": true}]}::',
        '::{"logs": "text"}::',
    ],
)
def test_malformed_protocol_lines_are_errors(line: str) -> None:
    with pytest.raises(ProtocolError):
        parse_line(line)


def test_collector_merges_vars_logs_lines_and_masks_them() -> None:
    ctx = FakeContext()
    collect = OutputCollector(ctx)
    collect("stdout", '::{"outputs": {"a": 1, "b": 1}}::')
    collect("stdout", '::{"outputs": {"b": 2}}::')
    collect("stdout", "password is hunter2")
    collect("stderr", "oops hunter2")
    collect("stderr", '::{"logs": [{"level": "DEBUG", "message": "d hunter2"}]}::')
    collect("stdout", '::{"metrics": [{"name": "n", "type": "gauge", "value": 2.5}]}::')
    collect("stdout", "::{broken}::")
    assert collect.vars == {"a": 1, "b": 2}
    assert collect.counts == {"stdout": 5, "stderr": 2}
    assert ctx.metrics == [("n", 2.5, "gauge", {})]
    levels: list[Any] = ctx.logger.lines
    assert levels[:3] == [
        ("INFO", "password is ******"),
        ("ERROR", "oops ******"),
        ("DEBUG", "d ******"),
    ]
    assert levels[3][0] == "WARN" and "invalid Kestra protocol line" in levels[3][1]


def test_line_splitter_joins_chunks_and_bounds_lines() -> None:
    splitter = LineSplitter(limit=4)
    assert splitter.feed("ab") == []
    assert splitter.feed("c\r\nde") == ["abc"]
    assert splitter.feed("fghij") == ["defg"]  # 'hij' pending: at most `limit` kept
    assert splitter.feed("\n" + "x" * 9 + "\n") == ["hij", "xxxx", "xxxx", "x"]
    assert splitter.feed("tail") == []
    assert splitter.close() == ["tail"]
    assert splitter.close() == []
