"""Podium's engine. How to read it, in the order an execution meets it:

1. flow model     `flow.py` (load_flow: strict YAML → validated `Flow`), `yaml_loader.py`,
                  `inputs.py`, `plugin.py` (the `Task` model and the `RunContext` tasks see),
                  `catalog.py` (which plugins exist), `flows.py` (flows by revision)
2. requests       `intake.py` mints ids and checks inputs (and a flow's `checks`,
                  `checks.py`) at the edge, then publishes
3. executor       `executor.py` owns executions (dedupe, concurrency, kill, resume) and runs
                  each as an `ExecutionWalk` (`walk.py`: task runs, retries, branches);
                  `context.py` is the engine's side of `RunContext`; `templating/` renders;
                  `ownership.py` decides which executions it owns (partitions, claims);
                  `sla.py` enforces a flow's `sla`; `trigger_windows.py` keeps the windows
                  of Flow triggers that wait for several flows
4. events         `events.py`: requests and facts on the bus (`bus/`), keyed by flow
5. projector      `projector.py` applies events to the store, idempotently
6. store          `store/`: the projection (SQLite embedded), read by `web/` and the CLI

Beside that path, what flows share within a namespace: `kv/` (the KV store: entries and
types in `kv/__init__.py`, reads and changes in `service.py`, their one writer
`projector.py`, `loading.py` + `templating/kv.py` for `kv()` in templates, `cli.py`),
`nsfiles.py` (namespace files, with `file_reader.py` behind `read()`). Flows come and go
through `flow_archive.py` (import/export), `flow_compat.py` (Kestra's older forms) and
`task_cache.py` (`taskCache`); `ion.py` reads and writes Kestra's row files.
Commands on ended executions: `reruns.py` (restart, replay, a task run's new state),
`deletion.py` (delete, as an event), `debug_expression.py` (an expression evaluated in an
ended task run's context, for the API's `eval`).

`server.py` wires the roles together; `cli.py` is the `podium` command; `settings.py`
reads configuration once; `errors.py` draws the exception tree.
"""

from engine.errors import (
    ConfigError,
    FlowDefinitionError,
    InputError,
    PodiumError,
    Problem,
    StorageError,
    TaskFailed,
    TaskTimeout,
    TemplateError,
    TransientError,
)
from engine.states import State

__all__ = [
    "ConfigError",
    "FlowDefinitionError",
    "InputError",
    "PodiumError",
    "Problem",
    "State",
    "StorageError",
    "TaskFailed",
    "TaskTimeout",
    "TemplateError",
    "TransientError",
]
