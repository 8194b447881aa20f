"""Triggers decide that a flow must run and publish one ExecutionRequested; they run nothing.

`models` holds the YAML shape of each trigger type; `conditions` the conditions they test.
"""

from triggers.conditions import CONDITIONS
from triggers.models import TRIGGERS

__all__ = ["CONDITIONS", "TRIGGERS"]
