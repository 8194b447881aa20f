"""The YAML properties script tasks share, and the two task runners' properties.

Everything here is a strict pydantic model (unknown keys are flow errors), but it accepts
every property Kestra 1.x documents for these tasks, so real flows load unchanged:
properties Podium does not act on are listed in `IGNORED_PROPERTIES` and produce a WARN
log line when set, never a silent surprise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import AliasChoices, Field

from engine.plugin import DurationOrTemplate, Model, Task

__all__ = [
    "DOCKER_RUNNER",
    "PROCESS_RUNNER",
    "Cpu",
    "Credentials",
    "DockerRunnerSpec",
    "Memory",
    "NamespaceFilesSpec",
    "ProcessRunnerSpec",
    "ScriptProperties",
    "TaskRunnerSpec",
    "is_true",
    "parse_bytes",
]

PROCESS_RUNNER: Final = "io.kestra.plugin.core.runner.Process"
DOCKER_RUNNER: Final = "io.kestra.plugin.scripts.runner.docker.Docker"

_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def is_true(value: Any) -> bool:
    """Kestra's reading of a boolean property that may be given as (rendered) text."""
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "", "no", "off")
    return bool(value)


def parse_bytes(value: str | int) -> int:
    """'512Mb', '1GB', '2g' or a plain count as bytes (powers of 1024, as Kestra reads them)."""
    if isinstance(value, int):
        return value
    match = _BYTES.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r} (e.g. '512MB', '2GB')")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


class Cpu(Model):
    cpus: float | str | None = None


class Memory(Model):
    memory: str | None = None
    memorySwap: str | None = None
    memorySwappiness: str | None = None
    memoryReservation: str | None = None
    kernelMemory: str | None = None
    oomKillDisable: bool | None = None


class Credentials(Model):
    registry: str | None = None
    username: str | None = None
    password: str | None = None
    registryToken: str | None = None
    identityToken: str | None = None
    auth: str | None = None


class ProcessRunnerSpec(Model):
    type: Literal["io.kestra.plugin.core.runner.Process"]
    version: str | None = None


class DockerRunnerSpec(Model):
    """`io.kestra.plugin.scripts.runner.docker.Docker` (also the deprecated `docker:` block)."""

    type: Literal["io.kestra.plugin.scripts.runner.docker.Docker"] = DOCKER_RUNNER
    version: str | None = None
    host: str | None = None
    config: str | dict[str, Any] | None = None
    credentials: Credentials | None = None
    image: str | None = None
    user: str | None = None
    entryPoint: list[str] | None = Field(
        default=None, validation_alias=AliasChoices("entryPoint", "entrypoint")
    )
    extraHosts: list[str] | None = None
    networkMode: str | None = None
    portBindings: list[str] | None = None
    volumes: list[str] | None = None
    pullPolicy: Literal["IF_NOT_PRESENT", "ALWAYS", "NEVER"] | str = "IF_NOT_PRESENT"
    deviceRequests: list[dict[str, Any]] | None = None
    cpu: Cpu | None = None
    memory: Memory | None = None
    shmSize: str | None = None
    privileged: bool | str | None = None
    fileHandlingStrategy: Literal["VOLUME", "MOUNT"] | str | None = None
    delete: bool | str = True
    wait: bool | str = True
    killGracePeriod: DurationOrTemplate | None = None
    resume: bool | str | None = None


TaskRunnerSpec = Annotated[ProcessRunnerSpec | DockerRunnerSpec, Field(discriminator="type")]


class NamespaceFilesSpec(Model):
    """Kestra's `NamespaceFiles` property of script tasks."""

    enabled: bool | str = True
    include: list[str] | str | None = None
    exclude: list[str] | str | None = None
    namespaces: list[str] | str | None = None
    ifExists: Literal["OVERWRITE", "FAIL", "WARN", "IGNORE"] | str = "OVERWRITE"
    folderPerNamespace: bool | str = False


class ScriptProperties(Task):
    """Properties of every script task (Kestra's `AbstractExecScript`); behaviour lives
    in `execution.ScriptTask`."""

    default_image: ClassVar[str] = "ubuntu"
    # Accepted for Kestra flows, not acted upon: setting one logs a WARN line.
    IGNORED_PROPERTIES: ClassVar[tuple[str, ...]] = (
        "outputDirectory",
        "targetOS",
    )

    beforeCommands: list[str] | str | None = None
    env: dict[str, Any] | str | None = None
    inputFiles: dict[str, Any] | str | None = None
    outputFiles: list[str] | str | None = None
    namespaceFiles: NamespaceFilesSpec | None = None
    containerImage: str | None = None
    taskRunner: TaskRunnerSpec | None = None
    interpreter: list[str] | str = ["/bin/sh", "-c"]
    warningOnStdErr: bool | str = True  # deprecated in Kestra 1.x: stderr never sets WARNING
    failFast: bool | str = True
    targetOS: Literal["AUTO", "LINUX", "WINDOWS"] | str = "AUTO"
    outputDirectory: bool | str | None = None
    # Kestra 0.x spelled the runner this way; still honoured when `taskRunner` is absent.
    runner: Literal["PROCESS", "DOCKER"] | None = None
    docker: DockerRunnerSpec | None = None

    def ignored_settings(self) -> list[str]:
        """Properties set in the flow that Podium accepts but does not act on."""
        set_fields: Mapping[str, Any] = {
            name: getattr(self, name) for name in self.model_fields_set
        }
        return [
            name
            for name in self.IGNORED_PROPERTIES
            if name in set_fields and set_fields[name] not in (None, False, "AUTO", "LINUX")
        ]
