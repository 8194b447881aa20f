"""A real SMTP server for tests (aiosmtpd, in its own thread), recording what arrives.

`smtp_server()` listens on a free loopback port; with `tls` it offers STARTTLS (and
requires it), with `implicit_tls` it speaks TLS from the first byte (SMTPS). The
certificate is self-signed for 127.0.0.1, made on the spot. Logins are accepted for
one user and password only.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "mailer", "secret-value"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> list[Received]:
        with self._lock:
            taken, self.received[:] = list(self.received), []
        return taken


class _Recorder:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if session.auth_data else None
        with self.server._lock:
            self.server.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
            )
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
    ok = (
        isinstance(auth, LoginPassword)
        and auth.login.decode() == USER
        and auth.password.decode() == PASSWORD
    )
    return AuthResult(success=ok, handled=False, auth_data=auth if ok else None)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, signed by themselves."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def smtp_server(
    folder: Path, *, tls: bool = False, implicit_tls: bool = False
) -> Iterator[SmtpServer]:
    server = SmtpServer("127.0.0.1", _free_port())
    context = None
    if tls or implicit_tls:
        cert, key = self_signed(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    options: dict[str, Any] = {
        "authenticator": _authenticate,
        "auth_require_tls": tls,  # aiosmtpd sees only STARTTLS as TLS
    }
    if tls:
        options.update(tls_context=context, require_starttls=True)
    controller = Controller(
        _Recorder(server),
        hostname=server.host,
        port=server.port,
        ssl_context=context if implicit_tls else None,
        **options,
        ready_timeout=10,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
