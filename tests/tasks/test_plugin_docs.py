"""Every flow in docs/plugins.md loads: the examples users copy stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.catalog import default_registries
from engine.flow import load_flow

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
# whole flows (they start with their id); fragments of one (a task to paste) are not loaded
EXAMPLES = [
    block
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    if block.startswith("id:")
]


@pytest.mark.parametrize("source", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_each_example_flow_loads(source: str) -> None:
    flow = load_flow(source, default_registries(), source=str(DOC))
    assert flow.tasks
