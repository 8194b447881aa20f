"""Kestra's local-folder file triggers (being built)."""

from __future__ import annotations

from typing import Any

__all__ = ["MODELS", "RUNNERS"]

MODELS: tuple[type, ...] = ()
RUNNERS: dict[type, Any] = {}
