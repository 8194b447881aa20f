"""engine/pydantic_plugins.py: pydantic's plugin scan skipped only when it would find
nothing; a distribution that declares a plugin still gets it loaded."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from engine.pydantic_plugins import has_pydantic_entry_points
from tests.support.child import run_python

ROOT = Path(__file__).resolve().parents[2]


def _dist(folder: Path, name: str, entry_points: str | None) -> None:
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)


def test_no_distribution_names_pydantic(tmp_path: Path) -> None:
    _dist(tmp_path, "plain", None)
    _dist(tmp_path, "tool", "[console_scripts]\ntool = tool:main\n")
    (tmp_path / "other.egg-info").write_text("Name: other\n")  # a file, not a folder
    assert has_pydantic_entry_points([str(tmp_path), str(tmp_path / "missing")]) is False


@pytest.mark.parametrize("text", ["[pydantic]\nx = m:p\n", "[ pydantic ]\nx = m:p\n"])
def test_a_distribution_that_names_pydantic(tmp_path: Path, text: str) -> None:
    _dist(tmp_path, "plain", None)
    _dist(tmp_path, "plugged", text)
    assert has_pydantic_entry_points([str(tmp_path)]) is True


def test_what_is_not_read_is_left_to_pydantic(tmp_path: Path) -> None:
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("z-1.0.dist-info/entry_points.txt", "[pydantic]\nz = z:p\n")
    assert has_pydantic_entry_points([str(archive)]) is None
    egg = tmp_path / "old.egg"
    egg.mkdir()
    assert has_pydantic_entry_points([str(egg)]) is None


_CHILD = """
import json, sys
from engine.pydantic_plugins import skip_empty_plugin_scan
skipped = skip_empty_plugin_scan()
from pydantic import BaseModel
class M(BaseModel):
    x: int
M(x=1)
from pydantic.plugin._loader import get_plugins
print(json.dumps({
    "skipped": skipped,
    "plugins": sorted(type(p).__name__ for p in get_plugins()),
    "metadata_imported": "importlib.metadata" in sys.modules,
}))
"""

_PLUGIN = """
class SeesSchemas:
    def new_schema_validator(self, schema, schema_type, *args, **kwargs):
        print("plugin saw", schema_type.__name__)
        return None, None, None

plugin = SeesSchemas()
"""


def _child(path: Path, code: str = _CHILD, **env: str) -> tuple[dict[str, object], str]:
    """Run `code` in a fresh interpreter seeing Podium and `path`, without the user's
    PYDANTIC_DISABLE_PLUGINS unless given: its last line as JSON, and what came before."""
    done = run_python(code, path=[path], env=env, unset=["PYDANTIC_DISABLE_PLUGINS"])
    lines = done.stdout.splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1])


def _plugged(folder: Path) -> None:
    """A distribution in `folder` that declares a pydantic plugin, and its module."""
    _dist(folder, "sees_schemas", "[pydantic]\nsees = sees_schemas:plugin\n")
    (folder / "sees_schemas.py").write_text(_PLUGIN)


def test_with_no_plugin_pydantic_is_told_so_without_importlib_metadata(tmp_path: Path) -> None:
    if has_pydantic_entry_points() is not False:
        pytest.skip("this environment has a distribution that names pydantic")
    result, _ = _child(tmp_path)
    assert result == {"skipped": True, "plugins": [], "metadata_imported": False}


def test_an_installed_plugin_is_still_loaded(tmp_path: Path) -> None:
    _plugged(tmp_path)
    result, printed = _child(tmp_path)
    assert result["skipped"] is False
    assert result["plugins"] == ["SeesSchemas"]
    assert "plugin saw M" in printed


def test_the_users_variable_is_pydantics_to_read(tmp_path: Path) -> None:
    _plugged(tmp_path)
    result, printed = _child(tmp_path, PYDANTIC_DISABLE_PLUGINS="sees")
    assert result["skipped"] is False
    assert result["plugins"] == []
    assert "plugin saw" not in printed


_STAND_IN_CHILD = """
import json, sys
from engine.pydantic_plugins import _plugin_loader
loader = _plugin_loader()
imported_at_once = "importlib.metadata" in sys.modules
assert loader._plugins is None
plugins = sorted(type(p).__name__ for p in loader.get_plugins())  # pydantic's own scan
print(json.dumps({"at_once": imported_at_once, "plugins": plugins}))
"""


def test_pydantics_own_scan_still_works_through_the_stand_in(tmp_path: Path) -> None:
    """Were pydantic to scan after all (its cache emptied), the stand-in for
    importlib.metadata imports the real module and the scan finds the plugin."""
    _plugged(tmp_path)
    result, _ = _child(tmp_path, _STAND_IN_CHILD)
    assert result == {"at_once": False, "plugins": ["SeesSchemas"]}
