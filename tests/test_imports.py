"""The top-level packages import from this checkout and export what they say."""

from __future__ import annotations

import ast
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


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_only_the_entry_points_import_the_composition_root() -> None:
    """engine/server.py wires every role together; what it wires must not reach back for
    it (triggers and web get what they need passed in)."""
    entry_points = {ROOT / "engine" / "cli.py", ROOT / "engine" / "server.py"}
    for package in ("engine", "triggers", "tasks"):
        for path in (ROOT / package).rglob("*.py"):
            if path in entry_points:
                continue
            assert "engine.server" not in _imported_modules(path), (
                f"{path.relative_to(ROOT)} imports engine.server"
            )
