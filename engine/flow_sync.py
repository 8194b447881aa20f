"""Keep the stored flows in step with a folder of YAML files (`--flows DIR`).

Every `*.yml`/`*.yaml` under the folder is validated and saved (a new revision only when
its text changed); a file that fails validation is reported with its locations and the
previous revision stays in force. A deleted file deletes the flow it defined.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

from watchfiles import Change, awatch

from engine.errors import FlowDefinitionError
from engine.flows import FlowRepository

__all__ = ["FlowDirectory"]

log = logging.getLogger("podium.flows")


def _is_flow_file(path: Path) -> bool:
    return path.suffix in (".yml", ".yaml") and not path.name.startswith(".")


class FlowDirectory:
    def __init__(self, folder: Path, flows: FlowRepository) -> None:
        self.folder = folder.resolve()
        self.flows = flows
        self._defined: dict[Path, tuple[str, str]] = {}  # file -> (namespace, id)
        self.errors: dict[Path, FlowDefinitionError] = {}

    def __repr__(self) -> str:
        return f"<FlowDirectory {self.folder} flows={len(self._defined)} errors={len(self.errors)}>"

    async def load_all(self) -> None:
        await self._load(
            sorted(p for p in self.folder.rglob("*") if p.is_file() and _is_flow_file(p))
        )

    async def watch(self, stop_event: asyncio.Event | None = None) -> None:
        """Follow changes until cancelled or `stop_event` is set."""
        async for changes in awatch(self.folder, stop_event=stop_event, recursive=True):
            changed: list[Path] = []
            deleted: list[Path] = []
            for change, name in changes:
                path = Path(name)
                if not _is_flow_file(path):
                    continue
                (deleted if change is Change.deleted else changed).append(path)
            for path in deleted:
                await self._forget(path)
            await self._load(changed)

    async def _load(self, paths: Iterable[Path]) -> None:
        for path in paths:
            try:
                flow = await self.flows.save_file(path)
            except FlowDefinitionError as exc:
                self.errors[path] = exc
                log.error("flow file %s is invalid:\n%s", path, exc)
                continue
            except (OSError, UnicodeDecodeError) as exc:
                log.error("cannot read flow file %s: %s", path, exc)
                continue
            self.errors.pop(path, None)
            previous = self._defined.get(path)
            self._defined[path] = (flow.namespace, flow.id)
            if (
                previous is not None
                and previous != (flow.namespace, flow.id)
                and previous not in self._defined.values()
            ):
                await self.flows.delete(*previous)
            log.info("flow %s revision %s from %s", flow.key, flow.revision, path.name)

    async def _forget(self, path: Path) -> None:
        self.errors.pop(path, None)
        key = self._defined.pop(path, None)
        if key is not None and key not in self._defined.values():
            await self.flows.delete(*key)
            log.info("flow %s/%s deleted with its file %s", key[0], key[1], path.name)
