"""Secrets the way Kestra OSS reads them: `secret('x')` is the base64 value of `SECRET_X`.

Names are upper-cased as Kestra does (`secret('my_secret')` reads `SECRET_MY_SECRET`).

Every secret's value is masked (`mask()`) wherever logs, outputs or API responses are
written, from the start, whether or not a template read it: a script that printed it
some other way, or the raw base64 of a variable, right after a restart, is hidden too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from engine.errors import TemplateError

__all__ = ["MASK", "TAINTING_FILTERS", "SecretStore", "taint_filters"]

MASK = "******"
_PREFIX = "SECRET_"
# Shorter values ("a", "no") would mask ordinary text everywhere and hide nothing worth it.
_MIN_MASKED_LENGTH = 3
# Base64 forms of shorter values are a few characters that ordinary text may contain.
_MIN_BASE64_BYTES = 6


class SecretStore:
    """Secrets as Kestra OSS reads them: secret('X') is base64-decoded from env var SECRET_X."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        # Keep only the encoded secrets, not the whole environment.
        self._encoded = {
            key[len(_PREFIX) :]: value
            for key, value in environ.items()
            if key.startswith(_PREFIX) and len(key) > len(_PREFIX)
        }
        self._revealed: frozenset[str] = frozenset()
        # Longest first, so a secret containing another one is masked whole.
        self._needles: tuple[str, ...] = ()
        self._lock = threading.Lock()
        for name in self._encoded:  # masked from the start (a malformed one cannot leak)
            with contextlib.suppress(TemplateError):
                self.get(name)

    def __repr__(self) -> str:
        return f"<SecretStore {len(self._encoded)} secrets, {len(self._revealed)} revealed>"

    def get(self, name: str) -> str:
        """The decoded value of secret `name`; raises TemplateError if missing or malformed."""
        if not isinstance(name, str) or not name:
            raise TemplateError(f"secret name must be a non-empty string, not {name!r}")
        # Kestra upper-cases the name; the exact spelling still wins for older setups.
        encoded = self._encoded.get(name)
        if encoded is None:
            encoded = self._encoded.get(name.upper())
        if encoded is None:
            raise TemplateError(
                f"secret {name!r} is not defined (set the environment variable "
                f"{_PREFIX}{name.upper()} to its base64-encoded value)",
                variable=f"secret({name!r})",
            )
        try:
            # `base64` wraps long output at 76 columns; those line breaks are not data.
            raw = base64.b64decode("".join(encoded.split()), validate=True)
            value = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            raise TemplateError(
                f"secret {name!r} is not valid base64 UTF-8 text (environment variable "
                f"{_PREFIX}{name})",
                variable=f"secret({name!r})",
            ) from None
        self.reveal(value)
        return value

    def reveal(self, value: str) -> None:
        """Mask `value` from now on (a secret read, a SECRET input, a secret's derivative)."""
        if value in self._revealed:
            return
        with self._lock:
            revealed = self._revealed | {value}
            # A bounded set of variants: the case changes a script or a filter makes.
            needles = {
                form
                for v in revealed
                for form in (v, v.upper(), v.lower())
                if len(form) >= _MIN_MASKED_LENGTH
            }
            # A secret printed inside JSON appears escaped (quotes, newlines); mask that too.
            needles |= {orjson.dumps(v).decode()[1:-1] for v in needles}
            # ... and base64-encoded (`echo $TOKEN | base64`, a Basic auth header).
            needles |= {form for v in revealed for form in _base64_forms(v)}
            self._needles = tuple(sorted(needles, key=len, reverse=True))
            self._revealed = revealed

    def mask(self, text: str) -> str:
        """`text` with every revealed secret value (3 characters or more) replaced by ******."""
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, MASK)
        return text

    @property
    def revealed(self) -> frozenset[str]:
        """Every secret value (all are masked)."""
        return self._revealed

    def derive(self, source: Any, result: Any) -> None:
        """A filter turned `source` into `result`: if `source` held a secret, `result` is
        one too (a slice, a base64 form of an upper-cased secret…). Cheap when no secret
        was revealed, which is the common case."""
        if not self._needles or not isinstance(result, str) or not isinstance(source, str):
            return
        if len(result) < _MIN_MASKED_LENGTH or result == source:
            return
        if any(needle in source for needle in self._needles):
            self.reveal(result)


# Filters whose result keeps (part of) a secret given to them; `taint_filters` wraps them.
TAINTING_FILTERS = (
    "upper", "lower", "capitalize", "title", "trim", "reverse", "truncate", "abbreviate",
    "replace", "substringBefore", "substringAfter", "substringBeforeLast",
    "substringAfterLast", "b64encode", "base64encode", "urlencode", "escapeChar", "slugify",
    "center", "indent", "nindent", "wordwrap", "format", "string",
)  # fmt: skip


def taint_filters(filters: dict[str, Callable[..., Any]], store: Callable[[], Any]) -> None:
    """Wrap the string filters so what they make of a revealed secret is masked too.

    `store()` returns the SecretStore of the render in progress (or None)."""
    for name in TAINTING_FILTERS:
        inner = filters.get(name)
        if inner is not None:
            filters[name] = _tainting(inner, store)


def _tainting(inner: Callable[..., Any], store: Callable[[], Any]) -> Callable[..., Any]:
    # Filters marked pass_environment/pass_context get that object before the value.
    position = 1 if hasattr(inner, "jinja_pass_arg") else 0

    def tainting(*args: Any, **kwargs: Any) -> Any:
        result = inner(*args, **kwargs)
        secrets = store()
        if secrets is not None and len(args) > position:
            secrets.derive(args[position], result)
        return result

    if position:
        tainting.jinja_pass_arg = inner.jinja_pass_arg  # type: ignore[attr-defined]
    tainting.__name__ = getattr(inner, "__name__", "filter")
    return tainting


def _base64_forms(value: str) -> set[str]:
    """What `value` looks like inside base64 text, wherever it starts in the encoded data:
    for each of the 3 alignments, the characters that only its own bytes determine
    (standard and URL-safe alphabets). Too short to be specific: nothing."""
    raw = value.encode()
    forms: set[str] = set()
    if len(raw) < _MIN_BASE64_BYTES:
        return forms
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode()
        first = -(-8 * offset // 6)  # the first character made of the value's bits only
        last = 8 * (offset + len(raw)) // 6  # one past the last such character
        forms.add(encoded[first:last])
    forms.add(base64.b64encode(raw).decode())  # with its padding, as a whole value
    forms |= {f.replace("+", "-").replace("/", "_") for f in forms}
    return forms
