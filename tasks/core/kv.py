"""The namespace KV store's tasks: kv.Set, Get, Delete, GetKeys, PurgeKV, and Kestra's
deprecated state.Set/Get/Delete kept on top of them.

Every property may be a template. The store is reached through `ctx.kv` (engine.plugin's
`TaskKv`); a change a task makes is readable by the next task (and by `kv()` in it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from engine.errors import TaskFailed
from engine.plugin import Duration, RunContext, Task, plugin
from tasks.properties import (
    render_choice,
    render_flag,
    render_mapping,
    render_seconds,
    render_strings,
    render_text,
)

__all__ = [
    "TASKS",
    "DeleteKv",
    "DeleteState",
    "GetKeys",
    "GetKv",
    "GetState",
    "PurgeKv",
    "SetKv",
    "SetState",
]

KV_TYPES = ("STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON")


def _namespace(ctx: RunContext, value: str | None) -> str:
    return render_text(ctx, value, "namespace") or ctx.namespace


def _key(ctx: RunContext, value: str) -> str:
    key = render_text(ctx, value, "key")
    if not key:
        raise TaskFailed("property 'key' rendered to an empty string")
    return key


class _KvTask(Task):
    uses_worker_slot: ClassVar[bool] = False  # a store round trip, not work


@plugin("io.kestra.plugin.core.kv.Set")
class SetKv(_KvTask):
    """Create or replace a key's value (typed by `kvType`, or by the value itself)."""

    key: str
    value: Any
    namespace: str | None = None
    overwrite: bool | str = True
    ttl: Duration | str | None = None
    kvType: str | None = None
    kvDescription: str | None = None

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        value = self.value
        if isinstance(value, str) and _is_one_expression(value):
            value = ctx.evaluate(value)  # keeps the native type, as Kestra's renderTyped
        else:
            value = ctx.render(value)
        if value is None:
            raise TaskFailed("property 'value' rendered to null")
        seconds = render_seconds(ctx, self.ttl, "ttl")
        await ctx.kv.set(
            _key(ctx, self.key),
            value,
            namespace=_namespace(ctx, self.namespace),
            kv_type=render_choice(ctx, self.kvType, "kvType", KV_TYPES),
            ttl=timedelta(seconds=seconds) if seconds is not None else None,
            description=render_text(ctx, self.kvDescription, "kvDescription"),
            overwrite=bool(render_flag(ctx, self.overwrite, "overwrite")),
        )
        return None


def _is_one_expression(text: str) -> bool:
    stripped = text.strip()
    return (
        stripped.startswith("{{")
        and stripped.endswith("}}")
        and stripped.count("{{") == 1
        and "{%" not in stripped
    )


@plugin("io.kestra.plugin.core.kv.Get")
class GetKv(_KvTask):
    """A key's value as output `value` (null when absent, unless `errorOnMissing`)."""

    key: str
    namespace: str | None = None
    errorOnMissing: bool | str = False

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace, key = _namespace(ctx, self.namespace), _key(ctx, self.key)
        found, value = await ctx.kv.get(key, namespace=namespace)
        if not found and render_flag(ctx, self.errorOnMissing, "errorOnMissing"):
            raise TaskFailed(
                f"No value found for key '{key}' in namespace '{namespace}' "
                "and `errorOnMissing` is set to true"
            )
        return {"value": value}


@plugin("io.kestra.plugin.core.kv.Delete")
class DeleteKv(_KvTask):
    """Delete a key; output `deleted` says whether there was one."""

    key: str
    namespace: str | None = None
    errorOnMissing: bool | str = False

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespace, key = _namespace(ctx, self.namespace), _key(ctx, self.key)
        deleted = await ctx.kv.delete(key, namespace=namespace)
        if not deleted and render_flag(ctx, self.errorOnMissing, "errorOnMissing"):
            raise TaskFailed(
                f"No value found for key '{key}' in namespace '{namespace}' "
                "and `errorOnMissing` is set to true"
            )
        return {"deleted": deleted}


@plugin("io.kestra.plugin.core.kv.GetKeys")
class GetKeys(_KvTask):
    """The live keys of a namespace (those starting with `prefix`) as output `keys`."""

    prefix: str | None = None
    namespace: str | None = None

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        keys = await ctx.kv.keys(
            namespace=_namespace(ctx, self.namespace),
            prefix=render_text(ctx, self.prefix, "prefix") or None,
        )
        return {"keys": keys}


class PurgeBehavior(BaseModel):
    """Kestra's `behavior`: `type: key` with `expiredOnly`. (`type: version` prunes the
    revision history Kestra keeps; Podium keeps no history, so it is refused.)"""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["key", "KEY"] = "key"
    expiredOnly: bool = True


@plugin("io.kestra.plugin.core.kv.PurgeKV", "io.kestra.plugin.core.kv.PurgeKv")
class PurgeKv(_KvTask):
    """Delete keys across namespaces: expired ones by default; output `size`."""

    namespaces: list[str] | str | None = None
    namespacePattern: str | None = None
    includeChildNamespaces: bool | str = True
    keyPattern: str | None = None
    behavior: PurgeBehavior = PurgeBehavior()
    expiredOnly: bool | str | None = None  # deprecated by Kestra for behavior; wins if set

    @model_validator(mode="after")
    def _one_selector(self) -> PurgeKv:
        if self.namespaces is not None and self.namespacePattern is not None:
            raise ValueError("use 'namespaces' or 'namespacePattern', not both")
        return self

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        namespaces = render_strings(ctx, self.namespaces, "namespaces") or None
        expired_only = (
            render_flag(ctx, self.expiredOnly, "expiredOnly")
            if self.expiredOnly is not None
            else self.behavior.expiredOnly
        )
        size = await ctx.kv.purge(
            namespaces=namespaces,
            namespace_pattern=render_text(ctx, self.namespacePattern, "namespacePattern"),
            include_children=bool(
                render_flag(ctx, self.includeChildNamespaces, "includeChildNamespaces")
            ),
            key_pattern=render_text(ctx, self.keyPattern, "keyPattern"),
            expired_only=bool(expired_only),
        )
        ctx.logger.info(f"purged {size} keys")
        return {"size": size}


# -- the deprecated state tasks, kept on top of the KV store ------------------------


class _StateTask(_KvTask):
    """A state is one JSON entry of the flow's namespace: per flow (or shared by the
    namespace with `namespace: true`) and per `taskrun.value` unless `taskrunValue: false`."""

    replacement: ClassVar[str] = ""

    name: str = "default"
    namespace: bool | str = False
    taskrunValue: bool | str = True

    def state_key(self, ctx: RunContext) -> str:
        name = render_text(ctx, self.name, "name") or "default"
        scope = "" if render_flag(ctx, self.namespace, "namespace") else f"{ctx.flow_id}_"
        key = f"states_{scope}{name}"
        if render_flag(ctx, self.taskrunValue, "taskrunValue") and ctx.value is not None:
            key += "_" + hashlib.blake2b(ctx.value.encode(), digest_size=8).hexdigest()
        return key

    def warn_deprecated(self, ctx: RunContext) -> None:
        ctx.logger.warning(
            f"{self.type} is deprecated (as in Kestra); use {self.replacement} instead"
        )

    async def current(self, ctx: RunContext, key: str) -> dict[str, Any] | None:
        found, value = await ctx.kv.get(key)
        if not found:
            return None
        if not isinstance(value, dict):
            raise TaskFailed(f"the state '{key}' is not a map")
        return value


@plugin("io.kestra.plugin.core.state.Set", "io.kestra.core.tasks.states.Set")
class SetState(_StateTask):
    """Merge `data` into the state (deprecated: use kv.Set)."""

    replacement: ClassVar[str] = "io.kestra.plugin.core.kv.Set"
    data: dict[str, Any] | str | None = None

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        self.warn_deprecated(ctx)
        key = self.state_key(ctx)
        merged = {**(await self.current(ctx, key) or {}), **render_mapping(ctx, self.data, "data")}
        await ctx.kv.set(key, merged, kv_type="JSON")
        return {"count": len(merged), "key": key}


@plugin("io.kestra.plugin.core.state.Get", "io.kestra.core.tasks.states.Get")
class GetState(_StateTask):
    """The state as output `data` (deprecated: use kv.Get)."""

    replacement: ClassVar[str] = "io.kestra.plugin.core.kv.Get"
    errorOnMissing: bool | str = False

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        self.warn_deprecated(ctx)
        key = self.state_key(ctx)
        data = await self.current(ctx, key)
        if data is None:
            if render_flag(ctx, self.errorOnMissing, "errorOnMissing"):
                raise TaskFailed(f"no state '{key}'")
            data = {}
        return {"count": len(data), "data": data}


@plugin("io.kestra.plugin.core.state.Delete", "io.kestra.core.tasks.states.Delete")
class DeleteState(_StateTask):
    """Delete the state (deprecated: use kv.Delete)."""

    replacement: ClassVar[str] = "io.kestra.plugin.core.kv.Delete"
    errorOnMissing: bool | str = False

    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        self.warn_deprecated(ctx)
        key = self.state_key(ctx)
        deleted = await ctx.kv.delete(key)
        if not deleted and render_flag(ctx, self.errorOnMissing, "errorOnMissing"):
            raise TaskFailed(f"no state '{key}'")
        return {"deleted": deleted}


TASKS: tuple[type, ...] = (
    DeleteKv,
    DeleteState,
    GetKeys,
    GetKv,
    GetState,
    PurgeKv,
    SetKv,
    SetState,
)
