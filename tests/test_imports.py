"""The top-level packages import from this checkout and export what they say."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["engine", "triggers", "tasks"])
def test_packages_import_from_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().is_relative_to(ROOT)
    assert module.__doc__, f"{name}/__init__.py opens with a guide"
    for exported in module.__all__:
        assert hasattr(module, exported), f"{name}.{exported} is in __all__ but missing"


def test_engine_exports_the_error_tree() -> None:
    import engine

    assert issubclass(engine.TaskTimeout, engine.TaskFailed)
    assert issubclass(engine.FlowDefinitionError, engine.PodiumError)


def test_tasks_never_import_the_engine_internals() -> None:
    forbidden = ("engine.bus", "engine.store", "engine.executor", "engine.walk", "engine.projector")
    for path in (ROOT / "tasks").rglob("*.py"):
        text = path.read_text()
        for name in forbidden:
            assert f"import {name}" not in text and f"from {name}" not in text, (
                f"{path} imports {name}"
            )
