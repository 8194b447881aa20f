"""Shared fixtures: a whole embedded Podium in the test's event loop.

`podium` starts every role (no HTTP unless asked) on a temporary data folder;
`harness.run(yaml, inputs)` saves a flow, executes it and waits for the end, returning
what the store holds, so tests check the projection users see, not internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.events import ExecutionChanged, LogLine, TaskRunChanged
from engine.server import Podium
from engine.settings import Settings

# The API's user in tests that serve HTTP (auth is on, as in production).
ADMIN_USER, ADMIN_PASSWORD = "admin", "test-admin-password"

# The course's own flows are not in this repository: they are read from
# PODIUM_COURSE_FLOWS, by default the shared/flows folder beside the repository's folder.
COURSE_FLOWS = Path(
    os.environ.get("PODIUM_COURSE_FLOWS")
    or Path(__file__).resolve().parents[2] / "shared" / "flows"
)
COURSE_FLOW_NAMES = (
    "01_hello_world.yaml",
    "02_python.yaml",
    "03_getting_started_data_pipeline.yaml",
    "04_postgres_taxi.yaml",
)


def course_flow(name: str) -> Path:
    """One of the course's flow files. Missing, the test is skipped with one reason for
    all of them; in CI (CI=true) it fails instead, since CI always has the course's flows."""
    path = COURSE_FLOWS / name
    if path.is_file():
        return path
    reason = f"the course's flows are not in {COURSE_FLOWS} (set PODIUM_COURSE_FLOWS)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true needs them", pytrace=False)
    pytest.skip(reason)


@dataclass
class Outcome:
    execution: ExecutionChanged
    task_runs: list[TaskRunChanged]
    logs: list[LogLine]

    @property
    def state(self) -> str:
        return self.execution.state.value

    def runs(self, task_id: str) -> list[TaskRunChanged]:
        return [r for r in self.task_runs if r.task_id == task_id]

    def run(self, task_id: str) -> TaskRunChanged:
        found = self.runs(task_id)
        assert len(found) == 1, f"{len(found)} runs of {task_id}: {found}"
        return found[0]

    def messages(self, task_id: str | None = None) -> list[str]:
        return [line.message for line in self.logs if task_id is None or line.task_id == task_id]


class Harness:
    def __init__(self, podium: Podium, clock: FakeClock | None) -> None:
        self.podium = podium
        self.clock = clock

    async def deploy(self, source: str) -> Any:
        return await self.podium.flows.save(source)

    async def start(
        self, source: str, inputs: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> str:
        flow = await self.deploy(source)
        request = await self.podium.intake.execute(flow.namespace, flow.id, inputs=inputs, **kwargs)
        return request.execution_id

    async def wait(
        self, execution_id: str, *, timeout: float = 20.0, states: tuple[str, ...] = ()
    ) -> Outcome:
        """Wait for a terminal state (or one of `states`), moving a fake clock along."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            await self.podium.projector.caught_up()
            execution = await self.podium.store.get_execution(execution_id)
            if execution is not None and (
                execution.state.value in states or (not states and execution.state.is_terminal)
            ):
                return await self.outcome(execution_id)
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"execution {execution_id} still {execution and execution.state}"
                )
            if self.clock is not None and self.clock.sleepers:
                await self.clock.advance(3600)
            await asyncio.sleep(0.005)

    async def outcome(self, execution_id: str) -> Outcome:
        store = self.podium.store
        execution = await store.get_execution(execution_id)
        assert execution is not None
        return Outcome(
            execution, await store.task_runs(execution_id), await store.logs(execution_id)
        )

    async def run(
        self, source: str, inputs: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Outcome:
        return await self.wait(await self.start(source, inputs, **kwargs))


@contextlib.asynccontextmanager
async def running_podium(
    data: Path,
    *,
    clock: FakeClock | None = None,
    environ: Mapping[str, str] | None = None,
    serve_http: bool = False,
    **settings: Any,
) -> AsyncIterator[Podium]:
    """A whole Podium in this event loop; with serve_http, on a free port (podium.port),
    with the API user ADMIN_USER / ADMIN_PASSWORD unless `environ` names another."""
    settings.setdefault("port", 0)
    config = Settings(data=data, **settings)
    environ = dict(environ or {})
    if serve_http and "PODIUM_ADMIN_USER" not in environ:
        environ.update(PODIUM_ADMIN_USER=ADMIN_USER, PODIUM_ADMIN_PASSWORD=ADMIN_PASSWORD)
    async with Podium(config, clock=clock, environ=environ, serve_http=serve_http) as podium:
        ready = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            group.create_task(podium.run(ready=ready))
            await ready.wait()
            try:
                yield podium
            finally:
                podium.stop()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    clock = FakeClock()
    async with running_podium(
        tmp_path / "data",
        clock=clock,
        environ={"SECRET_API_KEY": "c2VjcmV0LXZhbHVl", "ENV_GREETING": "hi"},
    ) as podium:
        yield Harness(podium, clock)


@pytest.fixture
async def real_time_harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_podium(tmp_path / "data") as podium:
        yield Harness(podium, None)


# Run alone (scripts/test's second phase, never beside another pytest worker): the chaos
# and production suites time their roles' start-up and the broker's answers, which a
# second worker's load can push past their limits; a browser aborts its requests when a
# container test on another worker changes the host's network (ERR_NETWORK_CHANGED).
SERIAL_DIRECTORIES = ("chaos", "e2e/browser", "e2e/production")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    serial = [root / name for name in SERIAL_DIRECTORIES]
    for item in items:
        if any(item.path.is_relative_to(directory) for directory in serial):
            item.add_marker(pytest.mark.serial)
