"""Flows in and out of files, as Kestra's import and export move them: one YAML file, a
multi-document YAML file (documents separated by `---` lines) or a zip of YAML files in;
a zip of YAML sources out.

An upload is untrusted bytes, so everything here is bounded before it costs anything:
the upload's size, the number of zip entries and flows, each flow's size and the sum of
what the entries decompress to (read with a cap, never trusting the sizes the zip
declares: a zip bomb stops at the cap). Entry names are checked although nothing is
written to disk: a name that climbs (`..`), is absolute, or carries control characters
says the archive was made to attack something, and the whole upload is refused.

Pure functions, no I/O: the web handler (engine/web/api/flow_transfer.py) validates and
saves what `read_upload` returns.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "MAX_ENTRIES",
    "MAX_FLOWS",
    "MAX_FLOW_BYTES",
    "MAX_TOTAL_BYTES",
    "MAX_UPLOAD_BYTES",
    "ArchiveError",
    "FlowText",
    "read_upload",
    "split_documents",
    "write_zip",
]

MAX_UPLOAD_BYTES = 8 << 20  # the uploaded file itself (below the app's 10 MiB body limit)
MAX_FLOW_BYTES = 1 << 20  # one flow: the same limit as POST /api/v1/flows
MAX_TOTAL_BYTES = 16 << 20  # everything a zip decompresses to
MAX_ENTRIES = 1_000  # entries in a zip's directory, of any kind
MAX_FLOWS = 500  # flows in one upload
MAX_NAME_CHARS = 255

_DOCUMENT_SEPARATOR = re.compile(r"^---\s*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"


class ArchiveError(Exception):
    """The upload as a whole cannot be read; `status` is 400 (malformed) or 413 (too big)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class FlowText:
    """One flow's source as found in the upload."""

    file: str  # the uploaded file's name, or the zip entry's
    source: str
    document: int | None = None  # index in a multi-document file (Kestra names them so)
    first_line: int = 0  # lines of `file` before this document: add to a problem's line

    @property
    def label(self) -> str:
        return self.file if self.document is None else f"{self.file} (document {self.document})"


def is_yaml_name(name: str) -> bool:
    return name.lower().endswith((".yml", ".yaml"))


def split_documents(text: str) -> list[tuple[int, str]]:
    """YAML documents separated by `---` lines, each with the number of lines before it."""
    documents: list[tuple[int, str]] = []
    start, lines = 0, list[str]()
    for number, line in enumerate(text.splitlines(keepends=True)):
        if _DOCUMENT_SEPARATOR.match(line):
            if "".join(lines).strip():
                documents.append((start, "".join(lines)))
            start, lines = number + 1, []
        else:
            lines.append(line)
    if "".join(lines).strip() or not documents:
        documents.append((start, "".join(lines)))
    return documents


def read_upload(filename: str, data: bytes) -> list[FlowText]:
    """The flow sources in an uploaded file: a zip (by name or by content) or YAML."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ArchiveError(f"the file is over {MAX_UPLOAD_BYTES} bytes", 413)
    name = filename or "upload"
    if name.lower().endswith(".zip") or data.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        flows = _read_zip(data)
    elif is_yaml_name(name):
        flows = _read_yaml(name, data)
    else:
        suffix = name[name.rfind(".") :] if "." in name else name
        raise ArchiveError(
            f"cannot import a file of type {suffix!r}: send a .yml or .yaml file (one or "
            "more flows separated by ---) or a .zip of them"
        )
    if not flows:
        raise ArchiveError(f"{name!r} holds no flow")
    return flows


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"{name!r} is not UTF-8 text (byte {exc.start})") from None


def _read_yaml(name: str, data: bytes, *, count_before: int = 0) -> list[FlowText]:
    text = _decode(name, data)
    documents = split_documents(text)
    if count_before + len(documents) > MAX_FLOWS:
        raise ArchiveError(f"more than {MAX_FLOWS} flows in one import", 413)
    several = len(documents) > 1
    flows = []
    for index, (first_line, source) in enumerate(documents):
        if len(source.encode("utf-8")) > MAX_FLOW_BYTES:
            where = f"document {index} of {name!r}" if several else repr(name)
            raise ArchiveError(f"{where} is over {MAX_FLOW_BYTES} bytes", 413)
        flows.append(FlowText(name, source, index if several else None, first_line))
    return flows


def _unsafe_name(name: str) -> str | None:
    """Why an entry name is refused, or None."""
    if len(name) > MAX_NAME_CHARS:
        return f"is longer than {MAX_NAME_CHARS} characters"
    if _CONTROL.search(name):
        return "has control characters"
    if "\\" in name:
        return "has a backslash"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "is absolute"
    if ".." in name.split("/"):
        return "climbs out of the archive (..)"
    return None


def _is_skipped(name: str) -> bool:
    """Directories and what archivers add beside the files (macOS's __MACOSX/ and ._*
    resource forks, hidden files): not flows, and never mistaken for them."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return name.endswith("/") or name.startswith("__MACOSX/") or base.startswith(".")


def _read_zip(data: bytes) -> list[FlowText]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise ArchiveError("the file is not a readable zip archive") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise ArchiveError(f"the archive has more than {MAX_ENTRIES} entries", 413)
        seen: set[str] = set()
        wanted: list[zipfile.ZipInfo] = []
        foreign: list[str] = []
        for info in entries:
            why = _unsafe_name(info.filename)
            if why is not None:
                raise ArchiveError(f"the archive entry {info.filename!r} {why}")
            if info.filename in seen:
                raise ArchiveError(f"the archive has two entries named {info.filename!r}")
            seen.add(info.filename)
            if _is_skipped(info.filename):
                continue
            if not is_yaml_name(info.filename):
                foreign.append(info.filename)
                continue
            if info.flag_bits & 0x1:
                raise ArchiveError(f"the archive entry {info.filename!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ArchiveError(
                    f"the archive entry {info.filename!r} uses a compression other than "
                    "deflate or none"
                )
            if info.file_size > MAX_FLOW_BYTES:
                raise ArchiveError(f"{info.filename!r} is over {MAX_FLOW_BYTES} bytes", 413)
            wanted.append(info)
        if foreign:
            listed = ", ".join(repr(n) for n in foreign[:5]) + (", …" if len(foreign) > 5 else "")
            raise ArchiveError(
                f"only .yml and .yaml files can be imported; the archive also has {listed}"
            )
        flows: list[FlowText] = []
        total = 0
        for info in sorted(wanted, key=lambda i: i.filename):
            try:
                with archive.open(info) as entry:
                    # The declared size may lie: read one byte past the cap to know.
                    body = entry.read(MAX_FLOW_BYTES + 1)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise ArchiveError(
                    f"the archive entry {info.filename!r} is corrupt: {exc}"
                ) from None
            if len(body) > MAX_FLOW_BYTES:
                raise ArchiveError(f"{info.filename!r} is over {MAX_FLOW_BYTES} bytes", 413)
            total += len(body)
            if total > MAX_TOTAL_BYTES:
                raise ArchiveError(
                    f"the archive decompresses to more than {MAX_TOTAL_BYTES} bytes", 413
                )
            flows.extend(_read_yaml(info.filename, body, count_before=len(flows)))
        return flows


def write_zip(files: Iterable[tuple[str, str]]) -> bytes:
    """A zip of (entry name, text) pairs, deflated, with a fixed date so the same flows
    always make the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()
