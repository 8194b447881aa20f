"""Task family `jdbc` (being built)."""

__all__ = ["JDBC_TASKS"]

JDBC_TASKS: tuple[type, ...] = ()
