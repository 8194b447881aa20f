"""Composing an e-mail as Kestra's MailSend does, with the standard library.

The MIME tree: `multipart/mixed` [ `multipart/related` [ `multipart/alternative`
[plain, html], embedded images… ], attachments… ]; parts that are absent are left out.
Embedded images are referred to from the HTML as `cid:<name>`, as in Kestra.

Everything the flow gives is checked before anything is sent: addresses (`;` or `,`
separated, RFC 5322), no line breaks in headers (header injection), files only from the
execution's own internal storage, a bounded total size.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import PurePosixPath
from typing import Any

import orjson

from engine.errors import PodiumError, TaskFailed
from engine.plugin import RunContext

__all__ = ["MAX_FILES_BYTES", "MailFile", "MailParts", "compose", "files_of", "recipients"]

MAX_FILES_BYTES = 25 * 1024 * 1024  # what common SMTP servers accept in one message
DEFAULT_PLAIN = "Please view this email in a modern email client"  # Kestra's default
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")


@dataclass(frozen=True)
class MailFile:
    """An attachment or an embedded image, read from internal storage."""

    name: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass
class MailParts:
    sender: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str | None
    html: str | None
    plain: str | None
    attachments: list[MailFile] = field(default_factory=list)
    images: list[MailFile] = field(default_factory=list)

    @property
    def envelope_recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


def recipients(text: str | None, prop: str) -> list[str]:
    """Addresses from Kestra's `a@x; b@y` (commas work too), each checked."""
    if text is None or not text.strip():
        return []
    if "\r" in text or "\n" in text:
        raise TaskFailed(f"property '{prop}' holds a line break")
    found = getaddresses([text.replace(";", ",")])
    addresses = []
    for name, address in found:
        if not address or "@" not in address or address.startswith("@"):
            raise TaskFailed(f"property '{prop}': not an e-mail address in {text!r}")
        addresses.append(str(Address(display_name=name, addr_spec=address)) if name else address)
    return addresses


def bare(address: str) -> str:
    """The addr-spec of `Name <a@x>`, for the SMTP envelope."""
    return getaddresses([address])[0][1]


async def files_of(ctx: RunContext, value: Any, prop: str, budget: list[int]) -> list[MailFile]:
    """Kestra's `attachments` / `embeddedImages`: a list of {name, uri, contentType}, or
    a JSON string of one. `budget` is the bytes still allowed, shared by both lists."""
    items = _items(ctx, value, prop)
    files = []
    for index, item in enumerate(items):
        where = f"{prop}[{index}]"
        if not isinstance(item, dict):
            raise TaskFailed(f"{where} must be a map with 'name' and 'uri'")
        unknown = set(item) - {"name", "uri", "contentType"}
        if unknown:
            raise TaskFailed(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        uri, name = item.get("uri"), item.get("name")
        if not isinstance(uri, str) or not uri.strip():
            raise TaskFailed(f"{where}: 'uri' is required")
        if not isinstance(name, str) or not name.strip():
            raise TaskFailed(f"{where}: 'name' is required")
        name = PurePosixPath(name.replace("\\", "/")).name  # a file name, never a path
        if not name or any(c in name for c in "\r\n\x00"):
            raise TaskFailed(f"{where}: invalid file name")
        content_type = str(item.get("contentType") or "application/octet-stream").strip()
        if not _CONTENT_TYPE.match(content_type):
            raise TaskFailed(f"{where}: invalid contentType {content_type!r}")
        try:
            path = ctx.storage.execution_file(uri.strip())
        except PodiumError as exc:
            raise TaskFailed(f"{where}: {exc}") from None
        if not path.is_file():
            raise TaskFailed(f"{where}: no file in internal storage at {uri!r}")
        size = path.stat().st_size
        if size > budget[0]:
            raise TaskFailed(
                f"{where}: the files of one e-mail may weigh {MAX_FILES_BYTES} bytes "
                f"at most; {name} makes it more"
            )
        budget[0] -= size
        data = await asyncio.to_thread(path.read_bytes)
        files.append(MailFile(name, content_type.lower(), data))
    return files


def _items(ctx: RunContext, value: Any, prop: str) -> list[Any]:
    if value is None:
        return []
    rendered = ctx.render(value)
    if isinstance(rendered, str):
        text = rendered.strip()
        if not text:
            return []
        try:
            parsed = orjson.loads(text)
            if isinstance(parsed, str):  # Kestra also takes a JSON string of the JSON
                parsed = orjson.loads(parsed)
        except orjson.JSONDecodeError:
            raise TaskFailed(f"property '{prop}' is not a JSON list: {text[:200]!r}") from None
        rendered = parsed
    if isinstance(rendered, dict):
        rendered = [rendered]
    if not isinstance(rendered, list):
        raise TaskFailed(f"property '{prop}' must be a list of files")
    return rendered


def compose(parts: MailParts) -> EmailMessage:
    message = EmailMessage()
    try:
        message["From"] = parts.sender
        message["To"] = ", ".join(parts.to)
        if parts.cc:
            message["Cc"] = ", ".join(parts.cc)
        if parts.subject is not None:
            message["Subject"] = " ".join(parts.subject.splitlines())
    except (ValueError, TypeError) as exc:
        raise TaskFailed(f"invalid e-mail header: {exc}") from None
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=bare(parts.sender).rpartition("@")[2] or None)
    message.set_content(parts.plain if parts.plain is not None else DEFAULT_PLAIN)
    if parts.html is not None:
        message.add_alternative(parts.html, subtype="html")
        if parts.images:
            html = message.get_body(("html",))
            assert html is not None  # just added
            for image in parts.images:
                maintype, _, subtype = image.content_type.partition("/")
                html.add_related(
                    image.data,
                    maintype=maintype,
                    subtype=subtype,
                    cid=f"<{image.name}>",
                    filename=image.name,
                    disposition="inline",
                )
    elif parts.images:
        raise TaskFailed("embeddedImages need an htmlTextContent to be shown in")
    for attachment in parts.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.name
        )
    return message
