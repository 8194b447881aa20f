"""io.kestra.plugin.email.MailSend: send an e-mail over SMTP, with aiosmtplib.

Kestra's properties: `host`, `port`, `username`/`password` (from secrets), `transport
Strategy` (Kestra's names: SMTPS, implicit TLS, the default, port 465; SMTP_TLS, a
mandatory STARTTLS, port 587; SMTP, plain with STARTTLS when the server offers it, port
25), `sessionTimeout` (milliseconds), `verifyServerIdentity`, `trustedHosts`, `from`,
`to`/`cc`/`bcc` (`;`-separated), `subject`, `htmlTextContent`, `plainTextContent`,
`attachments` and `embeddedImages` ({name, uri, contentType} from the execution's
internal storage). Composition is in `message.py`.

Certificates: SMTPS and SMTP_TLS verify the server's certificate and name against the
system's CAs. `verifyServerIdentity: false` keeps the CA check and drops the name check;
a host in `trustedHosts` is trusted whatever its certificate (an internal server with a
self-signed one). SMTP's opportunistic STARTTLS verifies nothing, as in Kestra: use
SMTP_TLS when it matters.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from engine.errors import TaskFailed
from engine.plugin import RunContext, Task, lazy_import, plugin
from tasks.email.message import (
    MAX_FILES_BYTES,
    MailParts,
    bare,
    compose,
    files_of,
    recipients,
)
from tasks.properties import (
    masks_failures,
    render_choice,
    render_flag,
    render_integer,
    render_strings,
    render_text,
)

if TYPE_CHECKING:
    import aiosmtplib
else:  # imported when a task first uses it: the catalog stays fast
    aiosmtplib = lazy_import("aiosmtplib")

__all__ = ["MailSend", "SmtpServer"]

STRATEGIES = ("SMTPS", "SMTP_TLS", "SMTP")
DEFAULT_PORTS = {"SMTPS": 465, "SMTP_TLS": 587, "SMTP": 25}
DEFAULT_SESSION_MS = 10_000


class SmtpServer(Task):
    """Where and how to send: the server properties of Kestra's mail tasks."""

    host: str | None = None
    port: int | str | None = None
    username: str | None = None
    password: str | None = None
    transportStrategy: str = "SMTPS"
    sessionTimeout: int | str = DEFAULT_SESSION_MS
    verifyServerIdentity: bool | str = True
    trustedHosts: list[str] | str | None = None

    async def deliver(self, ctx: RunContext, parts: MailParts) -> None:
        host = (render_text(ctx, self.host, "host") or "").strip()
        if not host:
            raise TaskFailed("property 'host' is required: the SMTP server to send through")
        strategy = render_choice(ctx, self.transportStrategy, "transportStrategy", STRATEGIES)
        assert strategy is not None
        port = render_integer(ctx, self.port, "port", minimum=1) or DEFAULT_PORTS[strategy]
        if port > 65535:
            raise TaskFailed(f"property 'port' must be at most 65535, not {port}")
        millis = render_integer(ctx, self.sessionTimeout, "sessionTimeout", minimum=1)
        timeout = (millis or DEFAULT_SESSION_MS) / 1000
        username = render_text(ctx, self.username, "username")
        password = render_text(ctx, self.password, "password")
        trusted = {
            h.strip().lower() for h in render_strings(ctx, self.trustedHosts, "trustedHosts")
        }
        verify_name = render_flag(ctx, self.verifyServerIdentity, "verifyServerIdentity")
        tls = _tls_context(
            is_trusted=host.lower() in trusted or strategy == "SMTP",
            verify_name=verify_name is not False,
        )
        message = compose(parts)
        client = aiosmtplib.SMTP(
            hostname=host,
            port=port,
            use_tls=strategy == "SMTPS",
            start_tls=True if strategy == "SMTP_TLS" else None if strategy == "SMTP" else False,
            tls_context=tls,
            timeout=timeout,
        )
        where = f"SMTP server {host}:{port} ({strategy})"
        try:
            async with client:
                if username:
                    await client.login(username, password or "")
                refused, _ = await client.send_message(
                    message,
                    sender=bare(parts.sender),
                    recipients=[bare(a) for a in parts.envelope_recipients],
                )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise TaskFailed(f"{where} refused the login: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused_all = ", ".join(r.recipient for r in exc.recipients)
            raise TaskFailed(f"{where} refused every recipient: {refused_all}") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise TaskFailed(f"{where} answered {exc.code}: {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError) as exc:
            raise TaskFailed(f"cannot send through {where}: {exc or type(exc).__name__}") from None
        if refused:
            ctx.logger.warning(f"the server refused some recipients: {', '.join(sorted(refused))}")
        ctx.logger.info(
            f"e-mail sent through {where} to {len(parts.envelope_recipients)} recipient(s)"
        )


def _tls_context(*, is_trusted: bool, verify_name: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if is_trusted:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif not verify_name:
        context.check_hostname = False
    return context


@plugin("io.kestra.plugin.email.MailSend", "io.kestra.plugin.notifications.mail.MailSend")
class MailSend(SmtpServer):
    """Send an e-mail, with attachments and embedded images from internal storage."""

    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    cc: str | None = None
    bcc: str | None = None
    subject: str | None = None
    htmlTextContent: str | None = None
    plainTextContent: str | None = None
    attachments: list[Any] | str | None = None
    embeddedImages: list[Any] | str | None = None

    async def parts(self, ctx: RunContext, html: str | None, plain: str | None) -> MailParts:
        sender = recipients(render_text(ctx, self.from_, "from"), "from")
        if len(sender) != 1:
            raise TaskFailed("property 'from' must be one e-mail address")
        to = recipients(render_text(ctx, self.to, "to"), "to")
        cc = recipients(render_text(ctx, self.cc, "cc"), "cc")
        bcc = recipients(render_text(ctx, self.bcc, "bcc"), "bcc")
        if not to and not cc and not bcc:
            raise TaskFailed("property 'to' is required: nobody to send the e-mail to")
        budget = [MAX_FILES_BYTES]
        return MailParts(
            sender=sender[0],
            to=to,
            cc=cc,
            bcc=bcc,
            subject=render_text(ctx, self.subject, "subject"),
            html=html,
            plain=plain,
            attachments=await files_of(ctx, self.attachments, "attachments", budget),
            images=await files_of(ctx, self.embeddedImages, "embeddedImages", budget),
        )

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        html = render_text(ctx, self.htmlTextContent, "htmlTextContent")
        plain = render_text(ctx, self.plainTextContent, "plainTextContent")
        await self.deliver(ctx, await self.parts(ctx, html, plain))
        return None
