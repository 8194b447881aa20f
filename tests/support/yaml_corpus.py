"""Every YAML file of the repository (settings, compose files, flows, examples): documents
written by people, for tests that read each one two ways and compare."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

YAML_FILES = sorted(
    path
    for pattern in ("*.yaml", "*.yml")
    for path in ROOT.rglob(pattern)
    if not {".git", ".venv", "node_modules"} & set(path.parts)
)
