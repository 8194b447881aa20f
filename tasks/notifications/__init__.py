"""Task family `notifications` (being built)."""

__all__ = ["NOTIFICATIONS_TASKS"]

NOTIFICATIONS_TASKS: tuple[type, ...] = ()
