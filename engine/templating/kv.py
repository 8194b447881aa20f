"""The `kv('key', namespace=…, errorOnMissing=…)` template function.

Rendering is synchronous and the KV entries are in the store, so the entries a task's
templates read are loaded before the task runs (engine/kv/loading.py) into a `KvSnapshot`,
which the engine puts in scope around each render (`reading_kv`). Loading finds the keys
by rendering the task's properties once in *recording* mode: `kv()` then notes each key it
is asked for and returns nothing. That finds keys computed by expressions too
(`kv(inputs.name)`, a key per loop item); a key still not loaded when the task renders
is an error that says so, never a silent null.

As in Kestra, without `namespace` the key is looked up in the flow's namespace, then in
each parent namespace; an expired entry is an error unless `errorOnMissing=false`.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

from engine.errors import TemplateError
from engine.templating.scoped import Scoped

__all__ = ["KvSnapshot", "is_reading_kv", "kv", "reading_kv"]

MISSING: Any = object()
EXPIRED: Any = object()


class KvSnapshot:
    """The entries one task run may read: (namespace, key) -> value, MISSING or EXPIRED."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.values: dict[tuple[str, str], Any] = {}
        self.is_recording = False
        self.wanted: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"<KvSnapshot {self.namespace} {len(self.values)} keys>"

    def lookup(self, namespace: str, key: str) -> Any:
        found = self.values.get((namespace, key), None)
        if found is None and (namespace, key) not in self.values:
            if self.is_recording:
                self.wanted.add((namespace, key))
                return MISSING
            raise TemplateError(
                f"kv('{key}') in namespace '{namespace}' was not loaded before the task ran; "
                "compute the key from inputs, variables or outputs, not from what the task "
                "itself produces",
                variable=f"kv({key!r})",
            )
        return found


_SCOPE: ContextVar[KvSnapshot | None] = ContextVar("podium_kv", default=None)


def reading_kv(snapshot: KvSnapshot | None) -> Scoped[KvSnapshot | None]:
    """`with reading_kv(snapshot):` renders inside see `snapshot` through kv()."""
    return Scoped(_SCOPE, snapshot)


def is_reading_kv() -> bool:
    """Whether renders now see a snapshot (inside `reading_kv` with one)."""
    return _SCOPE.get() is not None


def _chain(namespace: str) -> list[str]:
    parts = namespace.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


@pass_context
def kv(
    context: Context,
    key: Any = None,
    namespace: Any = None,
    errorOnMissing: Any = True,  # Kestra's argument name
) -> Any:
    if not isinstance(key, str) or not key:
        raise TemplateError("the 'kv' function expects a key: kv('my_key')", variable="kv")
    snapshot = _SCOPE.get()
    if snapshot is None:
        raise TemplateError(
            "kv() reads the KV store of a running task; it is not available here",
            variable=f"kv({key!r})",
        )
    is_inherited = namespace is None
    if is_inherited:
        flow = context.get("flow")
        namespace = flow.get("namespace") if isinstance(flow, dict) else None
        namespace = namespace or snapshot.namespace
    if not isinstance(namespace, str):
        raise TemplateError("kv(): namespace must be a string", variable=f"kv({key!r})")
    value: Any = MISSING
    for candidate in _chain(namespace) if is_inherited else [namespace]:
        value = snapshot.lookup(candidate, key)
        if value is not MISSING:
            break
    if snapshot.is_recording:
        return None if value is MISSING or value is EXPIRED else value
    if value is EXPIRED:
        if errorOnMissing is not False:
            raise TemplateError(
                f"The key '{key}' in the namespace '{namespace}' has expired.",
                variable=f"kv({key!r})",
            )
        return None
    if value is MISSING:
        if errorOnMissing is not False:
            raise TemplateError(
                f"The key '{key}' does not exist in the namespace '{namespace}'.",
                variable=f"kv({key!r})",
            )
        return None
    return value
