"""What `podium flow run` of a flow that only logs imports and builds (issue 22): each
thing here is loaded or built on first use, and a change that made one of them eager
again would only show as a slower start (bench/foundation.py --only cli). Checked as
imports and built schemas, never as times."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.cli import _parser
from engine.pydantic_plugins import has_pydantic_entry_points
from tests.support.child import run_python

ROOT = Path(__file__).resolve().parents[2]

LOG_ONLY = """
id: hello
namespace: company.team
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "{{ 'hello' }}"
"""

# `module:Class` of pydantic models a log-only run has no use for: each builds its schema
# (`__pydantic_complete__`) only when something validates or creates one.
UNBUILT = (
    "engine.events:MetricEmitted",
    "engine.events:ExecutionsPurged",
    "engine.events:LogsPurged",
    "engine.events:ExecutionDeleted",
    "engine.events:KillRequested",
    "engine.kv:KvChanged",
    "engine.settings:JournalSettings",
    "engine.settings:RetentionSection",
    "engine.settings:AuthSection",
)

_CHILD = """
import importlib, json, sys
from engine.cli import main
assert main(['flow', 'run', '-q', sys.argv[1]]) == 0
built = {}
for name in sys.argv[2:]:
    module, cls = name.split(':')
    built[name] = getattr(importlib.import_module(module), cls).__pydantic_complete__
from engine.flow import Flow
flow_schema = repr(Flow.__pydantic_core_schema__)
print(json.dumps({'modules': sorted(sys.modules), 'built': built, 'flow_schema': flow_schema}))
"""


@pytest.fixture(scope="module")
def log_only_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    flow = tmp_path_factory.mktemp("startup") / "hello.yml"
    flow.write_text(LOG_ONLY)
    done = run_python(_CHILD, str(flow), *UNBUILT)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_flow_that_only_logs_imports_no_other_family(log_only_run: dict[str, Any]) -> None:
    """The catalog imports the log family, not JDBC, scripts, HTTP, the other core
    modules, the trigger families nor the live view (engine/catalog.py)."""
    imported = set(log_only_run["modules"])
    assert "tasks.core.log" in imported
    unwanted = {
        "tasks.jdbc",
        "tasks.http",
        "tasks.git",
        "tasks.serdes",
        "tasks.notifications",
        "tasks.scripts.python",
        "tasks.core.grouping",
        "tasks.core.storage",
        "triggers.conditions",
        "triggers.files",
        "rich",
        "aiohttp",
    }
    assert not unwanted & imported, sorted(unwanted & imported)


def test_a_flow_without_inputs_imports_no_input_type(log_only_run: dict[str, Any]) -> None:
    """engine/input_types.py (23 classes) comes with the first flow that declares inputs;
    engine.inputs, what every execution needs, is light."""
    assert "engine.inputs" in log_only_run["modules"]
    assert "engine.input_types" not in log_only_run["modules"]


def test_a_flow_that_only_logs_imports_no_ion(log_only_run: dict[str, Any]) -> None:
    """Ion files are written by log.Fetch, serdes and JDBC tasks, not by log.Log."""
    assert "tasks.core.log" in log_only_run["modules"]
    assert "engine.ion" not in log_only_run["modules"]


def test_a_flow_without_triggers_imports_no_flow_trigger(log_only_run: dict[str, Any]) -> None:
    """The flow-trigger listener runs in every scheduler, but the Flow trigger's family
    comes with the first flow that has a trigger (engine/catalog.py)."""
    assert "triggers.flow_trigger" in log_only_run["modules"]
    assert not {"triggers.models", "triggers.multiple"} & set(log_only_run["modules"])


def test_schemas_nothing_validates_with_are_not_built(log_only_run: dict[str, Any]) -> None:
    """Events, settings sections and the KV change build their schema on first use
    (`defer_build`): the settings validate their sections inline."""
    built = [name for name, is_built in log_only_run["built"].items() if is_built]
    assert not built, built


def test_the_flow_model_builds_no_schema_of_what_the_flow_lacks(
    log_only_run: dict[str, Any],
) -> None:
    """`Flow.inputs`, `sla` and `deprecations` are validated by adapters built on the
    first value given (engine/lazy_schema.py), not by the `Flow` model's own schema."""
    schema = log_only_run["flow_schema"]
    assert "'tasks'" in schema  # what the model does build
    for name in ("StringInput", "FileInput", "MaxDurationSla", "Problem"):
        assert name not in schema, name


def test_pydantic_plugins_are_looked_for_without_importlib_metadata(
    log_only_run: dict[str, Any],
) -> None:
    """With no installed distribution naming pydantic in its entry points, pydantic is
    told it has no plugins (engine/pydantic_plugins.py): importlib.metadata, email and
    csv, which its own scan imports, are not."""
    if has_pydantic_entry_points() is not False:
        pytest.skip("this environment has a distribution that names pydantic")
    imported = set(log_only_run["modules"])
    assert not {"importlib.metadata", "email", "csv"} & imported


_GC_CHILD = """
import gc, json, sys
import engine.cli as cli
seen = {"collections": 0, "before_started": None}
gc.callbacks.append(lambda phase, info: phase == "start" and seen.update(collections=seen["collections"] + 1))
started = cli._started
def _started():
    if seen["before_started"] is None:
        seen["before_started"] = seen["collections"]
        seen["enabled_before"] = gc.isenabled()
    started()
cli._started = _started
sys.argv = ["podium", *sys.argv[1:]]
code = cli.entry()
seen.update(code=code, enabled=gc.isenabled(), frozen=gc.get_freeze_count())
print(json.dumps(seen))
"""


@pytest.mark.parametrize("command", ["flow run -q", "flow validate"])
def test_the_collector_is_off_while_the_command_starts(command: str, tmp_path: Path) -> None:
    """`podium` (engine.cli.entry) starts with the collector off: none of its runs walks
    what start-up builds, which lives as long as the process; once started (`flow run`:
    the flow loaded; every other command but the server: parsed), that is frozen and
    the collector runs as it did."""
    flow = tmp_path / "hello.yml"
    flow.write_text(LOG_ONLY)
    done = run_python(_GC_CHILD, *command.split(), str(flow))
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["code"] == 0
    assert seen["before_started"] == 0
    assert seen["enabled_before"] is False
    assert seen["enabled"] is True
    assert seen["frozen"] > 10_000


COMMAND_LINES = [
    "flow run f.yml -q -i a=1 -l b=2",
    "-v flow run f.yml --data d",
    "flow run",
    "flow run f.yml --bogus",
    "flow runx",
    "flow deploy d --namespace n --delete",
    "server local --port 9 --flows f",
    "kv set ns k v",
    "nsfiles sync d --namespace n",
    "trigger backfill ns f t --start 2026-01-01",
    "db migrate --data d",
    "projector rebuild --yes",
    "--bogus flow run f.yml",
    "flwo run",
]


@pytest.mark.parametrize("line", COMMAND_LINES)
def test_the_named_command_alone_parses_as_the_full_parser(
    line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`podium flow run` builds only the `flow` command's parsers: what it parses, and
    every error it prints, is what the parser of every command gives."""
    argv = line.split()
    outcomes = []
    for parser in (_parser(), _parser(argv)):
        try:
            outcomes.append(vars(parser.parse_args(argv)))
        except SystemExit as exc:
            outcomes.append({"exit": exc.code, "stderr": capsys.readouterr().err})
    assert outcomes[0] == outcomes[1]
