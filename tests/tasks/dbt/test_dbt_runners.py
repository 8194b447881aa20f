"""Which dbt runs: on the Process runner, Podium's own or a cached environment
(tasks/dbt/environment.py); on the Docker runner, the image's (localhost/podium-dbt,
tagged ghcr.io/kestra-io/dbt-duckdb, built by scripts/build-test-images). inputFiles are
rendered, so dbt's own `{{ ref() }}` is kept raw, as in Kestra.

Kestra's DbtCLI docs show both: `taskRunner: {type: …Process}` with dbt installed where
the worker runs, and `containerImage: ghcr.io/kestra-io/dbt-duckdb` with the Docker runner.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.errors import TaskFailed
from tasks.dbt import environment
from tasks.dbt.environment import DBT_CORE, adapters_in_profiles, requirements
from tests.conftest import Harness, Outcome, running_podium
from tests.support.dbt_env import link_shared_cache
from tests.tasks.scripts.conftest import _get

PROJECT_FILES = """
    inputFiles:
      dbt_project.yml: |
        name: shop
        version: '1.0'
        profile: shop
        config-version: 2
      models/orders.sql: "select 1 as id, 'paid' as status union all select 2, 'open'"
      models/paid.sql: "select id from {{% raw %}}{{{{ ref('orders') }}}}{{% endraw %}} where status = 'paid'"
      models/schema.yml: |
        version: 2
        models:
          - name: paid
            columns:
              - name: id
                data_tests: [unique, not_null]
    profiles: |
      shop:
        target: dev
        outputs:
          dev: {{type: duckdb, path: dev.duckdb, threads: 1}}
"""

FLOW = (
    """
id: dbt_runner
namespace: shop
tasks:
  - id: dbt
    type: io.kestra.plugin.dbt.cli.DbtCLI
    taskRunner: {runner}
    containerImage: ghcr.io/kestra-io/dbt-duckdb
    commands: ["command -v dbt", "{command}"]
"""
    + PROJECT_FILES
)


EXPECTED = {
    "model.shop.orders": "success",
    "model.shop.paid": "success",
    "test.shop.not_null_paid_id": "pass",
    "test.shop.unique_paid_id": "pass",
}


def _statuses(outcome: Outcome) -> dict[str, str]:
    """Each node's status, by its id without the hash dbt appends to tests' ids."""
    results = outcome.run("dbt").outputs["runResults"]
    return {
        r["uniqueId"].rsplit(".", 1)[0] if r["uniqueId"].startswith("test.") else r["uniqueId"]: r[
            "status"
        ]
        for r in results
    }


def test_the_adapters_come_from_the_profiles_outputs() -> None:
    profiles = """
shop:
  target: dev
  outputs:
    dev: {type: duckdb, path: dev.duckdb}
    prod: {type: Postgres, host: db}
other:
  outputs:
    x: {type: duckdb}
"""
    assert adapters_in_profiles(profiles) == ["duckdb", "postgres"]
    assert requirements(["postgres", "duckdb"]) == [DBT_CORE, "dbt-duckdb", "dbt-postgres"]
    assert adapters_in_profiles(None) == [] == adapters_in_profiles("config: {}")


@pytest.mark.parametrize(
    "kind", ["duckdb --index-url http://evil", "-r /etc/passwd", "duckdb\nrequests", "dü"]
)
def test_an_adapter_type_never_becomes_a_pip_option(kind: str) -> None:
    profiles = f"p:\n  outputs:\n    dev: {{type: {kind!r}}}\n"
    with pytest.raises(TaskFailed, match="invalid adapter type"):
        adapters_in_profiles(profiles)


def test_podium_s_own_dbt_has_the_adapters_the_test_venv_installed() -> None:
    assert environment.beside_podium(["duckdb", "postgres"])
    assert not environment.beside_podium(["no_such_adapter_anywhere"])


@pytest.mark.e2e
async def test_without_dbt_beside_podium_the_process_runner_builds_and_reuses_an_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Podium installed without `[dbt]`: the environment is built on the first run (or
    found in the shared test cache scripts/test fills), then reused; dbt is the venv's."""
    monkeypatch.setattr(environment, "beside_podium", lambda adapters: False)
    root = link_shared_cache(tmp_path / "data")
    flow = FLOW.format(runner="{type: io.kestra.plugin.core.runner.Process}", command="dbt build")
    async with running_podium(tmp_path / "data") as podium:
        harness = Harness(podium, None)
        first = await harness.wait(await harness.start(flow), timeout=600)
        again = flow.replace('"dbt build"', '"dbt --version"')
        second = await harness.wait(await harness.start(again), timeout=240)
    assert first.state == "SUCCESS", first.messages()
    assert _statuses(first) == EXPECTED, first.messages()
    for outcome in (first, second):
        [dbt] = [m for m in outcome.messages("dbt") if m.rstrip().endswith("/bin/dbt")]
        assert Path(dbt).resolve().is_relative_to(root.resolve()), dbt
        assert not Path(dbt).resolve().is_relative_to(Path(sys.executable).parent.resolve())
    assert second.state == "SUCCESS", second.messages()
    assert any(m.startswith("reusing the cached Python environment") for m in second.messages())
    assert not any(m.startswith("installing ") for m in second.messages())


@pytest.mark.e2e
async def test_the_docker_runner_runs_the_image_s_dbt(
    real_time_harness: Harness, docker_host: str
) -> None:
    if _get(docker_host, "/images/ghcr.io/kestra-io/dbt-duckdb/json") != 200:
        pytest.fail(
            "the image ghcr.io/kestra-io/dbt-duckdb is missing: scripts/build-test-images",
            pytrace=False,
        )
    runner = f'{{type: io.kestra.plugin.scripts.runner.docker.Docker, host: "{docker_host}"}}'
    outcome = await real_time_harness.wait(
        await real_time_harness.start(FLOW.format(runner=runner, command="dbt build")), timeout=300
    )
    assert outcome.state == "SUCCESS", outcome.messages()
    assert _statuses(outcome) == EXPECTED, outcome.messages()
    assert "/usr/local/bin/dbt" in outcome.messages("dbt")
    assert sorted(outcome.run("dbt").outputs["outputFiles"]) == [
        "manifest.json",
        "run_results.json",
    ]
