"""flow.ForEachItem: split a file into batches and start a subflow execution per batch.

As in Kestra, one ForEachItem gives four task runs: its own (a flowable parent) and three
steps under it, `<id>_split` (the file cut into batch files; output `splits`, a file
listing their URIs), `<id>_items` (one subflow execution per batch; outputs
`numberOfBatches` and `iterations`, the count of subflow executions per state) and
`<id>_merge` (output `subflowOutputs`: a file with the outputs of every subflow
execution, one JSON line each). Flows read them as `outputs.<id>_items.numberOfBatches`.

The input file is streamed (read in chunks, batch files written as they fill), never
held whole; partitions count the rows in a first pass. The steps pass their results
through internal storage and their outputs, so a walk done again after a crash finds them.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from pydantic import Field, model_validator

from engine.errors import TaskFailed
from engine.plugin import Model, RunContext, Task, plugin
from engine.states import State
from tasks.core.subflow import render_with_items, text_labels

__all__ = ["TASKS", "ForEachItem"]

CHUNK_BYTES = 64 << 10
MAX_BATCHES = 100_000  # each batch is a subflow execution: beyond this, a flow is wrong
MAX_ROW_BYTES = 64 << 20  # a file without separators must not be read whole into memory
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


class Batch(Model):
    """How to cut the file: `rows` per batch (default 1), `bytes` per batch ("10MB"), or a
    number of `partitions`; each may be a template (`rows: "{{ inputs.batch }}"`)."""

    rows: int | str | None = None
    bytes: str | None = None
    partitions: int | str | None = None
    separator: str = Field(default="\n", min_length=1)

    @model_validator(mode="after")
    def _one_way(self) -> Batch:
        if sum(v is not None for v in (self.rows, self.bytes, self.partitions)) > 1:
            raise ValueError("set one of 'rows', 'bytes' or 'partitions'")
        return self


@plugin("io.kestra.plugin.core.flow.ForEachItem")
class ForEachItem(Task):
    """Split a file from internal storage into batches and start a subflow per batch;
    the subflow's inputs name its batch as `{{ taskrun.items }}`."""

    uses_worker_slot: ClassVar[bool] = False

    items: str
    namespace: str
    flowId: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, Any] = Field(default_factory=dict)
    batch: Batch = Field(default_factory=Batch)
    wait: bool = True
    transmitFailed: bool = True
    inheritLabels: bool = False
    revision: int | None = None
    concurrencyLimit: int = Field(default=0, ge=0)

    @property
    def is_flowable(self) -> bool:
        # its three steps are task runs under it, though the YAML declares no child list
        return True

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        steps: list[Task] = [
            _Split(id=f"{self.id}_split", type=_Split.type_name, owner=self),
            _Items(id=f"{self.id}_items", type=_Items.type_name, owner=self),
            _Merge(id=f"{self.id}_merge", type=_Merge.type_name, owner=self),
        ]
        await ctx.run_tasks(steps)
        return None


class _Step(Task):
    owner: ForEachItem = Field(exclude=True, repr=False)
    uses_worker_slot: ClassVar[bool] = False

    def sibling_outputs(self, ctx: RunContext, suffix: str) -> Mapping[str, Any]:
        """The outputs of the step `<id><suffix>` of the same ForEachItem run."""
        found = ctx.template_context["outputs"].get(self.owner.id + suffix)
        # inside loops, outputs are keyed by the loop values, outermost first
        parents = ctx.template_context.get("parents", [])
        for value in [p["taskrun"]["value"] for p in reversed(parents)]:
            if isinstance(found, dict) and value is not None and value in found:
                found = found[value]
        if not isinstance(found, dict):
            raise TaskFailed(f"the outputs of {self.owner.id}{suffix} are missing")
        return found


@plugin("io.kestra.plugin.core.flow.ForEachItem$ForEachItemSplit")
class _Split(_Step):
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        spec = self.owner
        source = ctx.storage.local_path(ctx.render_text(spec.items))
        if not source.is_file():
            raise TaskFailed(f"no file in internal storage at {spec.items!r}")
        cut = _cut_rule(ctx, spec.batch)
        folder = ctx.working_dir()
        paths = await asyncio.to_thread(_split_file, source, folder, spec.batch.separator, cut)
        uris = [ctx.storage.put_file(path.name, path) for path in paths]
        splits = ctx.storage.put_bytes("splits.txt", "".join(f"{u}\n" for u in uris).encode())
        ctx.logger.info(f"{len(uris)} batches")
        return {"splits": splits}


@plugin("io.kestra.plugin.core.flow.ForEachItem$ForEachItemExecutable")
class _Items(_Step):
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        spec = self.owner
        splits = self.sibling_outputs(ctx, "_split")["splits"]
        batches = ctx.storage.read_bytes(splits).decode().split()
        if not batches:
            return None  # an empty file: no subflow, no outputs (as Kestra)
        namespace, flow_id = ctx.render_text(spec.namespace), ctx.render_text(spec.flowId)
        labels = text_labels(ctx.render(spec.labels))
        if spec.inheritLabels:
            labels = {**ctx.template_context["labels"], **labels}
            labels = {k: v for k, v in labels.items() if isinstance(v, str)}
        gate = asyncio.Semaphore(spec.concurrencyLimit or len(batches) or 1)
        ended: dict[int, State | None] = {}
        written: list[str] = []  # the URIs of the subflow executions' outputs

        async def one(index: int, uri: str) -> None:
            inputs = render_with_items(ctx, spec.inputs, uri)
            async with gate:
                _, state, outputs = await ctx.start_subflow(
                    namespace,
                    flow_id,
                    inputs=inputs,
                    labels=labels,
                    wait=spec.wait,
                    revision=spec.revision,
                    key=str(index),
                )
            ended[index] = state
            if state is not None and outputs:
                written.append(
                    ctx.storage.put_bytes(f"outputs-{index}.json", json.dumps(outputs).encode())
                )

        async with asyncio.TaskGroup() as group:
            for index, uri in enumerate(batches):
                group.create_task(one(index, uri))
        iterations = {"CREATED": 0, "RUNNING": 0}
        for state in ended.values():
            name = state.value if state is not None else "CREATED"
            iterations[name] = iterations.get(name, 0) + 1
        failed = sum(1 for s in ended.values() if s is not None and s.is_failure)
        if failed and spec.transmitFailed:
            raise TaskFailed(f"{failed} of {len(batches)} subflow executions failed")
        if any(s is State.WARNING for s in ended.values()):
            ctx.warn()
        outputs: dict[str, Any] = {"numberOfBatches": len(batches), "iterations": iterations}
        if written:  # where `<id>_merge` finds them, as Kestra's items step says
            outputs["subflowOutputsBaseUri"] = written[0].rsplit("/", 1)[0]
        return outputs


@plugin("io.kestra.plugin.core.flow.ForEachItem$ForEachItemMergeOutputs")
class _Merge(_Step):
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        items = self.sibling_outputs(ctx, "_items")
        base = items.get("subflowOutputsBaseUri")
        if not base or not items.get("numberOfBatches"):
            return {}  # no subflow execution had outputs (or none was waited for)
        sources = [
            ctx.storage.local_path(f"{base}/outputs-{index}.json")
            for index in range(int(items["numberOfBatches"]))
        ]
        merged = ctx.working_dir() / "outputs.jsonl"
        await asyncio.to_thread(_concatenate, sources, merged)
        return {"subflowOutputs": ctx.storage.put_file("outputs.jsonl", merged)}


def _concatenate(sources: Sequence[Path], target: Path) -> None:
    """One line per subflow execution that had outputs, in batch order."""
    with target.open("wb") as out:
        for source in sources:
            if source.is_file():
                out.write(source.read_bytes().strip() + b"\n")


# -- cutting the file ------------------------------------------------------------------


def _cut_rule(ctx: RunContext, batch: Batch) -> tuple[str, int]:
    """("rows", n), ("bytes", n) or ("partitions", n), rendered and checked."""
    if batch.bytes is not None:
        text = ctx.render_text(batch.bytes)
        match = _SIZE.match(text)
        if match is None:
            raise TaskFailed(f"batch.bytes must be a size such as '10MB', got {text!r}")
        unit = (match.group(2) or "B").upper().replace("IB", "B")
        size = int(float(match.group(1)) * _UNITS[unit])
        if size < 1:
            raise TaskFailed("batch.bytes must be at least 1 byte")
        return "bytes", size
    for name in ("partitions", "rows"):
        raw = getattr(batch, name)
        if raw is None:
            continue
        rendered = ctx.render_text(raw) if isinstance(raw, str) else raw
        try:
            number = int(rendered)
        except (TypeError, ValueError):
            raise TaskFailed(f"batch.{name} must be a whole number, got {rendered!r}") from None
        if number < 1:
            raise TaskFailed(f"batch.{name} must be at least 1, got {number}")
        return name, number
    return "rows", 1


def _rows(source: BinaryIO, separator: bytes) -> Iterator[bytes]:
    """The file's non-empty rows, read a chunk at a time."""
    pending = b""
    while chunk := source.read(CHUNK_BYTES):
        pending += chunk
        *complete, pending = pending.split(separator)
        yield from (row for row in complete if row)
        if len(pending) > MAX_ROW_BYTES:
            raise TaskFailed(
                f"a row of the items file is longer than {MAX_ROW_BYTES >> 20} MiB: "
                "is the batch separator right?"
            )
    if pending:
        yield pending


def _split_file(source: Path, folder: Path, separator: str, cut: tuple[str, int]) -> list[Path]:
    sep = separator.encode()
    rule, size = cut
    if rule == "partitions":
        with source.open("rb") as counting:
            total = sum(1 for _ in _rows(counting, sep))
        rule, size = "rows", max(1, -(-total // size))
    paths: list[Path] = []
    out: BinaryIO | None = None
    rows = written = 0
    with source.open("rb") as reading:
        for row in _rows(reading, sep):
            is_full = rows >= size if rule == "rows" else written + len(row) + len(sep) > size
            if out is None or (is_full and rows > 0):
                if out is not None:
                    out.close()
                if len(paths) >= MAX_BATCHES:
                    raise TaskFailed(f"more than {MAX_BATCHES} batches: make them larger")
                paths.append(folder / f"batch-{len(paths)}.txt")
                out = paths[-1].open("wb")
                rows = written = 0
            out.write(row + sep)
            rows += 1
            written += len(row) + len(sep)
    if out is not None:
        out.close()
    return paths


TASKS: tuple[type, ...] = (ForEachItem,)
