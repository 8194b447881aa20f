"""Task family `scripts` (being built)."""

__all__ = ["SCRIPTS_TASKS"]

SCRIPTS_TASKS: tuple[type, ...] = ()
