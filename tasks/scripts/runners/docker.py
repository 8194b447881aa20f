"""The Docker runner (`io.kestra.plugin.scripts.runner.docker.Docker`), via aiodocker.

The endpoint is the runner's `host`, else DOCKER_HOST (what every Docker client reads),
else PODIUM_DOCKER_HOST (Podium's setting), else the first of the usual sockets that is
present: Docker's `/var/run/docker.sock` (as Kestra's Docker client falls back to; what
compose/course.yml mounts), rootless Docker's, then Podman's, rootful and rootless
(`SOCKETS`). Endpoints are `unix:///path.sock` or `tcp://…`; any Docker-API server works
(Podman serves it in CI).

One attempt = one container:
- the image is checked/pulled per `pullPolicy` (IF_NOT_PRESENT, ALWAYS, NEVER);
- the working directory is bind-mounted at the same path and is the container's
  WorkingDir, so `{{ workingDir }}`, input and output files behave as with Process;
- the environment is the task's `env` + the attempt's variables only (not the host's);
- `networkMode`, `cpu.cpus`, `memory.*`, `user`, `entryPoint` (Kestra's default: `[""]`,
  the image's entrypoint is not used), `shmSize`, `privileged`, `extraHosts` apply; with a
  numeric `user`, the working directory is handed to that uid first, so it can write there;
- stdout and stderr are streamed while it runs; the container is removed afterwards
  (unless `delete: false`); a cancelled attempt (kill, timeout) kills it first.

Containers carry `podium.managed=true`, the host name, the owning process id and the
execution and task run ids as labels. `cleanup_orphans()` removes those whose owning
process on this host is gone; it runs the first time a process uses an endpoint.

aiodocker and connection errors are translated here, once, into TaskFailed.

Every HTTP response is closed when the call that opened it ends, even when that call is
cancelled mid-stream (see `_docker_client`), so an attempt's connections are all back before its
client session closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from engine.errors import TaskFailed
from engine.plugin import TaskLogger, lazy_import
from tasks.scripts.models import DockerRunnerSpec, is_true, parse_bytes
from tasks.scripts.protocol import LineSplitter, OnLine, Stream
from tasks.scripts.runners.base import Launch

if TYPE_CHECKING:
    import aiodocker
    import aiohttp
else:  # imported when a task first uses it: the catalog stays fast
    aiodocker = lazy_import("aiodocker")
    aiohttp = lazy_import("aiohttp")

__all__ = [
    "SOCKETS",
    "DockerRunner",
    "cleanup_orphans",
    "default_endpoint",
    "is_orphan",
    "is_reachable",
]

API_SECONDS = 60.0  # one API call (create, start, inspect, kill, delete)
PULL_SECONDS = 1800.0
PING_SECONDS = 3.0
DRAIN_SECONDS = 5.0
REACHABILITY_TTL = {True: 60.0, False: 10.0}
MANAGED_LABEL = "podium.managed"
HOSTNAME = socket.gethostname()

T = TypeVar("T")

_reachability: dict[str, tuple[float, str | None]] = {}
_api_versions: dict[str, str] = {}
_cleaned: set[str] = set()


# Where Docker and Podman listen when nothing says otherwise; `{runtime}` is
# $XDG_RUNTIME_DIR (else /run/user/<uid>), where the rootless ones put theirs.
SOCKETS = (
    "/var/run/docker.sock",
    "{runtime}/docker.sock",
    "/run/podman/podman.sock",
    "{runtime}/podman/podman.sock",
)


def default_endpoint(
    environ: Mapping[str, str] = os.environ, sockets: Sequence[str] | None = None
) -> str | None:
    """The Docker endpoint: DOCKER_HOST, then PODIUM_DOCKER_HOST, then the first of
    `sockets` present; None when there is none."""
    # Tasks get no settings object yet, so the runner reads its two variables itself.
    for name in ("DOCKER_HOST", "PODIUM_DOCKER_HOST"):
        if environ.get(name):
            return environ[name]
    runtime = environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    for pattern in SOCKETS if sockets is None else sockets:
        path = Path(pattern.format(runtime=runtime))
        with contextlib.suppress(OSError):
            if path.is_socket():
                return f"unix://{path}"
    return None


async def is_reachable(endpoint: str) -> str | None:
    """None when `endpoint` answers a ping, else why not (cached for a short while)."""
    cached = _reachability.get(endpoint)
    now = time.monotonic()
    if cached is not None and now - cached[0] < REACHABILITY_TTL[cached[1] is None]:
        return cached[1]
    problem: str | None = None
    try:
        async with _docker_client()(url=endpoint) as docker:
            async with asyncio.timeout(PING_SECONDS):
                _api_versions[endpoint] = await _ping(docker)
    except TimeoutError:
        problem = f"no answer within {PING_SECONDS:g}s"
    except (aiodocker.DockerError, aiohttp.ClientError, OSError, ValueError) as exc:
        problem = str(exc) or type(exc).__name__
    _reachability[endpoint] = (now, problem)
    return problem


@functools.cache
def _docker_client() -> type[aiodocker.Docker]:
    """aiodocker's client, but a response is closed when the request that opened it ends
    (the class is made on first use: aiodocker and aiohttp are imported then)."""

    class _Docker(aiodocker.Docker):
        """aiodocker's client, but a response is closed when the request that opened it ends.

        aiodocker's `_query` hands the response out and never closes it: a body read to its
        end gives the connection back, but a stream left early (a log pump or a pull cancelled
        by a kill or a timeout) keeps it, in a response that only the garbage collector
        reclaims, long after the session closed: aiohttp then warns `Unclosed connection`.
        """

        @contextlib.asynccontextmanager
        async def _query(self, *args: Any, **kwargs: Any) -> AsyncIterator[aiohttp.ClientResponse]:
            async with super()._query(*args, **kwargs) as response:
                try:
                    yield response
                finally:
                    # Closing a response read to its end does nothing; one left mid-stream
                    # drops its connection, which cannot be reused anyway.
                    response.close()

    return _Docker


async def _ping(docker: aiodocker.Docker) -> str:
    """The API version the server speaks, from its `/_ping` answer."""
    # aiodocker's api_version="auto" asks /version on first use, which Podman answers
    # in seconds; /_ping answers at once and names the version in a header.
    async with docker._query("_ping", versioned_api=False) as response:
        version = response.headers.get("API-Version", "")
    return f"v{version}" if version else "auto"


async def _connect(endpoint: str) -> aiodocker.Docker:
    docker = _docker_client()(url=endpoint)
    try:
        version = _api_versions.get(endpoint)
        if version is None:
            version = _api_versions[endpoint] = await _api(_ping(docker), "ping", PING_SECONDS)
        docker.api_version = version
    except BaseException:
        await docker.close()
        raise
    return docker


async def _api(call: Awaitable[T], what: str, seconds: float = API_SECONDS) -> T:
    try:
        async with asyncio.timeout(seconds):
            return await call
    except TimeoutError:
        raise TaskFailed(f"Docker API: {what} did not answer within {seconds:g}s") from None


async def cleanup_orphans(docker: aiodocker.Docker) -> list[str]:
    """Remove containers a crashed Podium process on this host left behind."""
    filters = json.dumps({"label": [f"{MANAGED_LABEL}=true", f"podium.host={HOSTNAME}"]})
    listed = await _api(docker.containers.list(all=True, filters=filters), "listing containers")
    removed = []
    for container in listed:
        labels: Mapping[str, str] = {}
        if "Labels" in container:  # a DockerContainer is no Mapping: no .get()
            labels = container["Labels"] or {}
        if not is_orphan(labels):
            continue
        with contextlib.suppress(aiodocker.DockerError):
            await _api(container.delete(force=True), "removing an orphan container")
            removed.append(container.id)
    return removed


def is_orphan(labels: Mapping[str, str]) -> bool:
    """Whether a container's labels name a Podium process of this host that is gone."""
    if labels.get(MANAGED_LABEL) != "true" or labels.get("podium.host") != HOSTNAME:
        return False
    owner = str(labels.get("podium.pid", ""))
    return not (owner.isdigit() and _is_alive(int(owner)))


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DockerRunner:
    is_container = True

    def __init__(self, spec: DockerRunnerSpec, *, image: str, logger: TaskLogger) -> None:
        self.spec = spec
        self.image = image
        self.logger = logger
        self.endpoint = spec.host or default_endpoint()

    def __repr__(self) -> str:
        return f"<DockerRunner {self.image} at {self.endpoint}>"

    async def run(self, launch: Launch, on_line: OnLine) -> int:
        if self.endpoint is None:
            raise TaskFailed(
                "the Docker runner needs an endpoint: set taskRunner.host, DOCKER_HOST or "
                "PODIUM_DOCKER_HOST, or run Docker or Podman on their usual socket"
            )
        config = self._container_config(launch)
        if self.spec.user:
            await asyncio.to_thread(self._share_working_dir, launch.working_dir, self.spec.user)
        try:
            async with await _connect(self.endpoint) as docker:
                if self.endpoint not in _cleaned:
                    _cleaned.add(self.endpoint)
                    removed = await cleanup_orphans(docker)
                    if removed:
                        self.logger.info(f"removed {len(removed)} orphaned Podium container(s)")
                await self._ensure_image(docker)
                # Named up front: a kill that lands while `create` is in flight can still
                # remove the container by name.
                name = f"podium-{uuid.uuid4().hex[:16]}"
                try:
                    container = await _api(
                        docker.containers.create(config, name=name), "creating a container"
                    )
                    return await self._run_container(container, on_line)
                finally:
                    if is_true(self.spec.delete):
                        with contextlib.suppress(aiodocker.DockerError, TaskFailed):
                            await _api(
                                docker.containers.container(name).delete(force=True),
                                "removing the container",
                            )
        except aiodocker.DockerError as exc:
            raise TaskFailed(f"Docker API at {self.endpoint}: {exc.message}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TaskFailed(f"cannot reach the Docker API at {self.endpoint}: {exc}") from None

    async def _run_container(self, container: Any, on_line: OnLine) -> int:
        await _api(container.start(), "starting the container")
        self.logger.debug(f"container {container.id[:12]} started from {self.image}")
        try:
            async with asyncio.TaskGroup() as group:
                pumps = [
                    group.create_task(self._pump(container, "stdout", on_line)),
                    group.create_task(self._pump(container, "stderr", on_line)),
                ]
                # As long as the script runs: the task's `timeout` is what bounds it.
                result = await container.wait()
                _, still_open = await asyncio.wait(pumps, timeout=DRAIN_SECONDS)
                for pump in still_open:
                    pump.cancel()
        except asyncio.CancelledError:
            await self._kill(container)
            raise
        return int(result.get("StatusCode", -1))

    async def _kill(self, container: Any) -> None:
        grace = self.spec.killGracePeriod
        seconds = grace.total_seconds() if isinstance(grace, timedelta) else 0.0
        with contextlib.suppress(aiodocker.DockerError, TaskFailed):
            if seconds > 0:
                await _api(container.stop(t=int(seconds)), "stopping", API_SECONDS + seconds)
            else:
                await _api(container.kill(signal="SIGKILL"), "killing the container")

    async def _pump(self, container: Any, stream: Stream, on_line: OnLine) -> None:
        splitter = LineSplitter()
        chunks = container.log(stdout=stream == "stdout", stderr=stream == "stderr", follow=True)
        try:
            # Closed here, not by the garbage collector, if `on_line` raises: its response
            # goes back before the session closes.
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    for line in splitter.feed(chunk):
                        on_line(stream, line)
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as exc:
            # The exit code decides the task; losing the rest of the logs is only told.
            self.logger.warning(f"the container's {stream} could not be read to the end: {exc}")
        for line in splitter.close():
            on_line(stream, line)

    async def _ensure_image(self, docker: aiodocker.Docker) -> None:
        policy = str(self.spec.pullPolicy).upper()
        if policy != "ALWAYS":
            try:
                await _api(docker.images.inspect(self.image), "inspecting the image")
                return
            except aiodocker.DockerError as exc:
                if exc.status != 404:
                    raise
            if policy == "NEVER":
                raise TaskFailed(f"image {self.image!r} is not present and pullPolicy is NEVER")
        self.logger.info(f"pulling image {self.image}")
        progress = await _api(
            docker.images.pull(self.image, auth=self._auth()), "pulling the image", PULL_SECONDS
        )
        errors = [p["error"] for p in progress if isinstance(p, dict) and p.get("error")]
        if errors:
            raise TaskFailed(f"pulling image {self.image!r} failed: {errors[-1]}")

    def _auth(self) -> dict[str, str] | None:
        credentials = self.spec.credentials
        if credentials is None:
            return None
        auth = {
            "username": credentials.username,
            "password": credentials.password,
            "serveraddress": credentials.registry,
            "identitytoken": credentials.identityToken,
            "registrytoken": credentials.registryToken,
            "auth": credentials.auth,
        }
        return {key: value for key, value in auth.items() if value}

    def _share_working_dir(self, folder: Path, user: str) -> None:
        """Let the container's `user` work in the (private, 0700) working directory."""
        uid, _, gid = user.partition(":")
        if not uid.isdigit() or not (gid.isdigit() or not gid) or os.geteuid() != 0:
            self.logger.warning(
                f"taskRunner.user {user!r}: the working directory stays owned by Podium's "
                "user; give a numeric uid[:gid] (and run Podium as root) to hand it over"
            )
            return
        owner, group = int(uid), int(gid or uid)
        try:
            for top, dirs, names in os.walk(folder):
                os.chown(top, owner, group)
                for name in [*dirs, *names]:
                    os.chown(os.path.join(top, name), owner, group, follow_symlinks=False)
        except OSError as exc:
            raise TaskFailed(f"cannot hand the working directory to {user!r}: {exc}") from None

    def _container_config(self, launch: Launch) -> dict[str, Any]:
        spec = self.spec
        if spec.volumes:
            raise TaskFailed("taskRunner.volumes are disabled (as in Kestra by default)")
        for name in ("portBindings", "deviceRequests", "config"):
            if getattr(spec, name):
                self.logger.warning(f"taskRunner.{name} is not supported by Podium and is ignored")
        if not is_true(spec.wait):
            self.logger.warning("taskRunner.wait: false is not supported; waiting for the end")
        folder = str(launch.working_dir)
        host: dict[str, Any] = {"Binds": [f"{folder}:{folder}"]}
        if spec.networkMode:
            host["NetworkMode"] = spec.networkMode
        if spec.extraHosts:
            host["ExtraHosts"] = list(spec.extraHosts)
        if spec.privileged is not None:
            host["Privileged"] = is_true(spec.privileged)
        try:
            if spec.shmSize:
                host["ShmSize"] = parse_bytes(spec.shmSize)
            if spec.cpu is not None and spec.cpu.cpus is not None:
                host["NanoCpus"] = int(float(spec.cpu.cpus) * 1e9)
            memory = spec.memory
            if memory is not None:
                for key, value in (
                    ("Memory", memory.memory),
                    ("MemorySwap", memory.memorySwap),
                    ("MemoryReservation", memory.memoryReservation),
                ):
                    if value:
                        host[key] = -1 if value.strip() == "-1" else parse_bytes(value)
                if memory.memorySwappiness:
                    host["MemorySwappiness"] = int(memory.memorySwappiness)
                if memory.oomKillDisable is not None:
                    host["OomKillDisable"] = memory.oomKillDisable
        except ValueError as exc:
            raise TaskFailed(f"taskRunner: {exc}") from None
        labels = {
            MANAGED_LABEL: "true",
            "podium.host": HOSTNAME,
            "podium.pid": str(os.getpid()),
            **launch.labels,
        }
        config: dict[str, Any] = {
            "Image": self.image,
            "Cmd": list(launch.argv),
            "Entrypoint": list(spec.entryPoint) if spec.entryPoint is not None else [""],
            "Env": [f"{key}={value}" for key, value in launch.env.items()],
            "WorkingDir": folder,
            "Labels": labels,
            "Tty": False,
            "OpenStdin": False,
            "HostConfig": host,
        }
        if spec.user:
            config["User"] = spec.user
        return config
