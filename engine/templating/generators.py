"""Functions that make something new on every call: ids, random numbers, a free port.

Ids and `nanoId` come from the operating system's CSPRNG (they may end up as names or
tokens); `randomInt` uses it too, there is no reason for a weaker one. Every size a
template can ask for is capped.
"""

from __future__ import annotations

import secrets
import socket
import uuid as uuid_module
from typing import Any

from engine.errors import TemplateError
from engine.events import new_id

__all__ = ["id_function", "nano_id", "random_int", "random_port", "uuid"]

NANOID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
MAX_NANOID_LENGTH = 1000  # Kestra's cap


def uuid() -> str:
    """Kestra's `uuid()`: a random (version 4) UUID."""
    return str(uuid_module.uuid4())


def id_function() -> str:
    """Kestra's `id()`: a new unique id, in the form Podium gives executions."""
    return new_id()


def nano_id(length: Any = 21, alphabet: Any = NANOID_ALPHABET) -> str:
    """Kestra's `nanoId(length=21, alphabet=...)`."""
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise TemplateError(f"nanoId: length must be a positive integer, not {length!r}")
    if length > MAX_NANOID_LENGTH:
        raise TemplateError(f"nanoId: length must be lower than {MAX_NANOID_LENGTH}")
    if not isinstance(alphabet, str) or not alphabet:
        raise TemplateError("nanoId: alphabet must be a non-empty string")
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_int(lower: Any = None, upper: Any = None) -> int:
    """Kestra's `randomInt(lower, upper)`: an integer in [lower, upper) (lower when equal)."""
    for name, value in (("lower", lower), ("upper", upper)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TemplateError(f"randomInt: expects an integer argument {name}, not {value!r}")
    assert isinstance(lower, int) and isinstance(upper, int)
    if upper < lower:
        raise TemplateError("randomInt: upper is less than lower")
    return lower if upper == lower else lower + secrets.randbelow(upper - lower)


def random_port() -> int:
    """Kestra's `randomPort()`: a TCP port free right now on this host (the OS picks it;
    the socket is closed at once, nothing stays bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
