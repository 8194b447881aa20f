"""Task family `http` (being built)."""

__all__ = ["HTTP_TASKS"]

HTTP_TASKS: tuple[type, ...] = ()
