"""MailSend and MailExecution through the whole embedded pipeline, against a real SMTP
server (aiosmtpd) that records what arrives; messages are read back with the standard
library's parser, attachments included."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import Harness
from tests.support.smtp import USER, SmtpServer, smtp_server

# a CSV written by DuckDB into the execution's storage, then mailed
MAKE_FILES = """
  - id: report
    type: io.kestra.plugin.jdbc.duckdb.Query
    sql: |
      COPY (SELECT 42 AS answer, 'é' AS letter) TO 'report.csv' (HEADER);
      COPY (SELECT 'not really a png' AS pixels) TO 'logo.png' (HEADER false);
    outputFiles: [report.csv, logo.png]
"""


@pytest.fixture(scope="module")
def plain_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


@pytest.fixture(scope="module")
def starttls_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path_factory.mktemp("smtp-tls"), tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def smtps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path_factory.mktemp("smtps"), implicit_tls=True) as server:
        yield server


def _text(message: EmailMessage, kind: str) -> str:
    """A body as written (SMTP carries CRLF line ends)."""
    part = message.get_body((kind,))
    assert part is not None, f"no {kind} body"
    return str(part.get_content()).replace("\r\n", "\n")


def _flow(server: SmtpServer, mail: str, *, files: bool = False) -> str:
    return f"""
id: mailer
namespace: tests.mail
tasks:{MAKE_FILES if files else ""}
  - id: mail
    type: io.kestra.plugin.email.MailSend
    host: {server.host}
    port: {server.port}
{mail}
"""


async def test_mail_send_delivers_bodies_recipients_attachments_and_images(
    harness: Harness, plain_smtp: SmtpServer
) -> None:
    plain_smtp.take()
    mail = """    transportStrategy: SMTP
    username: mailer
    password: "{{ secret('API_KEY') }}"
    from: "Podium <podium@example.com>"
    to: "ops@example.com; dev@example.com"
    cc: lead@example.com
    bcc: audit@example.com
    subject: "Report of {{ flow.id }}"
    htmlTextContent: '<p>See <img src="cid:logo.png"> and the file.</p>'
    plainTextContent: "See the file."
    attachments:
      - name: report.csv
        uri: "{{ outputs.report.outputFiles['report.csv'] }}"
        contentType: text/csv
    embeddedImages:
      - name: logo.png
        uri: "{{ outputs.report.outputFiles['logo.png'] }}"
        contentType: image/png
"""
    outcome = await harness.run(_flow(plain_smtp, mail, files=True))
    assert outcome.state == "SUCCESS", outcome.task_runs
    [received] = plain_smtp.take()
    assert received.login == USER
    assert received.sender == "podium@example.com"
    assert received.recipients == [
        "ops@example.com",
        "dev@example.com",
        "lead@example.com",
        "audit@example.com",
    ]
    message = received.message
    assert message["Subject"] == "Report of mailer"
    assert message["To"] == "ops@example.com, dev@example.com"
    assert message["Cc"] == "lead@example.com"
    assert message["Bcc"] is None  # blind copies travel in the envelope only
    assert _text(message, "plain") == "See the file.\n"
    assert '<img src="cid:logo.png">' in _text(message, "html")
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "report.csv"
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == "answer,letter\n42,é\n".encode()
    related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
    [image] = [p for p in related.iter_parts() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<logo.png>"
    assert image.get_payload(decode=True) == b"not really a png\n"
    assert "secret-value" not in str(outcome.logs)


async def test_starttls_to_a_self_signed_server_needs_it_trusted(
    harness: Harness, starttls_smtp: SmtpServer
) -> None:
    starttls_smtp.take()
    mail = """    transportStrategy: SMTP_TLS
    username: mailer
    password: "{{ secret('API_KEY') }}"
    from: podium@example.com
    to: ops@example.com
    subject: over TLS
    plainTextContent: hello
"""
    refused = await harness.run(_flow(starttls_smtp, mail))
    assert refused.state == "FAILED"
    assert "CERTIFICATE_VERIFY_FAILED" in (refused.run("mail").error or "")
    assert starttls_smtp.take() == []
    trusted = await harness.run(_flow(starttls_smtp, mail + "    trustedHosts: [127.0.0.1]\n"))
    assert trusted.state == "SUCCESS", trusted.task_runs
    [received] = starttls_smtp.take()
    assert received.login == USER and received.message["Subject"] == "over TLS"


async def test_smtps_speaks_tls_from_the_start(harness: Harness, smtps: SmtpServer) -> None:
    smtps.take()
    mail = """    username: mailer
    password: "{{ secret('API_KEY') }}"
    trustedHosts: ["127.0.0.1"]
    from: podium@example.com
    to: ops@example.com
    htmlTextContent: "<b>bold</b>"
"""
    outcome = await harness.run(_flow(smtps, mail))  # SMTPS is Kestra's default strategy
    assert outcome.state == "SUCCESS", outcome.task_runs
    [received] = smtps.take()
    message = received.message
    assert _text(message, "html") == "<b>bold</b>\n"
    assert _text(message, "plain").startswith("Please view this email")


async def test_a_wrong_password_fails_with_the_servers_answer(
    harness: Harness, plain_smtp: SmtpServer
) -> None:
    mail = """    transportStrategy: SMTP
    username: mailer
    password: wrong
    from: podium@example.com
    to: ops@example.com
"""
    outcome = await harness.run(_flow(plain_smtp, mail))
    assert outcome.state == "FAILED"
    assert "refused the login: 535" in (outcome.run("mail").error or "")


@pytest.mark.parametrize(
    ("mail", "message"),
    [
        # another execution's files, or anything outside internal storage, are refused
        (
            "    attachments: [{name: x, uri: 'kestra:///tests/mail/other/executions/x/f.csv'}]\n",
            "not a file of this execution",
        ),
        ("    attachments: [{name: x, uri: 'kestra:///../../etc/passwd'}]\n", "escapes"),
        ("    attachments: [{name: x, uri: 'file:///etc/passwd'}]\n", "not an internal storage"),
        # a line break in an address would let a flow add headers
        ('    cc: "a@example.com\\nBcc: spy@evil.example"\n', "line break"),
        ("    cc: not-an-address\n", "not an e-mail address"),
    ],
)
async def test_what_a_flow_must_not_do_is_refused_before_sending(
    harness: Harness, plain_smtp: SmtpServer, mail: str, message: str
) -> None:
    plain_smtp.take()
    base = "    transportStrategy: SMTP\n    from: podium@example.com\n    to: ops@example.com\n"
    outcome = await harness.run(_flow(plain_smtp, base + mail))
    assert outcome.state == "FAILED"
    assert message in (outcome.run("mail").error or "")
    assert plain_smtp.take() == []


async def test_mail_execution_reports_the_current_execution_from_its_errors_branch(
    harness: Harness, plain_smtp: SmtpServer, tmp_path: Path
) -> None:
    plain_smtp.take()
    flow = f"""
id: nightly
namespace: tests.mail
tasks:
  - id: load
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: no rows
errors:
  - id: mail
    type: io.kestra.plugin.email.MailExecution
    host: {plain_smtp.host}
    port: {plain_smtp.port}
    transportStrategy: SMTP
    from: podium@example.com
    to: ops@example.com
    subject: "{{{{ flow.id }}}} failed"
    customMessage: "<b>look</b> at it"
    customFields: {{team: data}}
"""
    outcome = await harness.run(flow)
    assert outcome.run("mail").state.value == "SUCCESS", outcome.task_runs
    execution_id = outcome.execution.execution_id
    [received] = plain_smtp.take()
    message = received.message
    assert message["Subject"] == "nightly failed"
    html = _text(message, "html")
    assert "[tests.mail] nightly ➛ " in html
    assert "Failed on task <code>load</code> after" in html
    assert f"/ui/executions/{execution_id}" in html
    assert "&lt;b&gt;look&lt;/b&gt; at it" in html  # values are escaped
    assert "<strong>team :</strong> data" in html
    text = _text(message, "plain")
    assert f"Execution: {execution_id}" in text and "Final task ID: load" in text
