"""A plugin family whose dependency is not installed (tests/engine/test_plugin_families.py)."""

import podium_test_dependency_that_is_never_installed  # noqa: F401

TASKS: tuple[type, ...] = ()
