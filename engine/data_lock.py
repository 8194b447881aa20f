"""The one lock of an embedded data folder: one process at a time writes its journal."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import ConfigError

__all__ = ["lock_data_folder"]


@contextmanager
def lock_data_folder(data: Path) -> Iterator[None]:
    """One process per embedded data folder: two would corrupt the journal. The kernel
    releases the lock when the process dies, so kill -9 leaves nothing to clean up."""
    with open(data / "podium.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"the data folder {data} is in use by another Podium process: stop it, or "
                "give this one another folder with --data or PODIUM_DATA (the setting `data`)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
