"""A short seeded chaos run in CI (the long one: python -m tests.chaos --seconds 600)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.engine import FAULTS, ChaosRun

pytestmark = pytest.mark.e2e


def test_a_short_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    said: list[str] = []
    report = ChaosRun(45, seed=7, workdir=tmp_path, fault_every=1.5, say=said.append).run()
    print("\n".join(said))
    assert report.problems == [], report.summary()
    assert set(report.faults) == set(FAULTS), report.summary()  # every kind of fault, once
    assert report.states.total() >= 40, report.summary()
    assert report.files_dropped > 0 and report.by_flow["dropped"] == report.files_dropped
    assert report.slots_fired >= 5, report.summary()
    assert not set(report.states) - {"SUCCESS", "FAILED"}, report.summary()
    assert report.states["FAILED"] == report.by_flow["retried"], report.summary()
