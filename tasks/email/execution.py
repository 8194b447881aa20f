"""io.kestra.plugin.email.MailExecution: an execution's summary, by e-mail.

The facts are those of every `…Execution` notification (tasks/notifications/summary.py);
the HTML follows Kestra's mail template (headline coloured by state, the outcome, a "See
details" button to the UI, then namespace, flow, execution, status, final task id and the
custom fields), with every value HTML-escaped. The plain-text part says the same in text,
where Kestra sends only "Please view this email in a modern email client".
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from pydantic import model_validator

from engine.plugin import RunContext, plugin
from tasks.email.send import MailSend
from tasks.notifications.summary import ExecutionFacts, ExecutionNotice, gather_facts
from tasks.properties import masks_failures

__all__ = ["MailExecution", "html_summary", "text_summary"]

_COLOURS = {"SUCCESS": "green", "WARNING": "orange"}
_P = '<p style="font-family: sans-serif; font-size: 14px; margin: 0 0 15px 0;">'


@plugin("io.kestra.plugin.email.MailExecution", "io.kestra.plugin.notifications.mail.MailExecution")
class MailExecution(MailSend, ExecutionNotice):
    """Send an e-mail with an execution's summary and a link to it in the UI."""

    @model_validator(mode="after")
    def _summary_is_the_body(self) -> MailExecution:
        if self.htmlTextContent is not None or self.plainTextContent is not None:
            raise ValueError(
                "the summary is the body of MailExecution: use customMessage/customFields, "
                "or MailSend for a body of your own"
            )
        return self

    @masks_failures
    async def run(self, ctx: RunContext) -> Mapping[str, Any] | None:
        facts = await gather_facts(ctx, self)
        parts = await self.parts(ctx, html_summary(facts), text_summary(facts))
        await self.deliver(ctx, parts)
        return None


def _rows(facts: ExecutionFacts) -> list[tuple[str, Any]]:
    e = facts.execution
    rows: list[tuple[str, Any]] = [
        ("Namespace", e.namespace),
        ("Flow", e.flow_id),
        ("Execution", e.id),
        ("Status", e.state),
    ]
    if facts.last_task is not None:
        rows.append(("Final task ID", facts.last_task.task_id))
    rows.extend(facts.custom_fields.items())
    return rows


def html_summary(facts: ExecutionFacts) -> str:
    e = facts.execution
    colour = _COLOURS.get(e.state, "red")
    failed = facts.first_failed
    outcome = (
        f"Failed on task <code>{escape(failed.task_id)}</code> after {escape(facts.duration)}"
        if failed is not None
        else f"Succeeded after {escape(facts.duration)}"
    )
    body = [
        f'<p style="font-family: sans-serif; font-size: 16px; margin: 0 0 15px 0;">'
        f"[{escape(e.namespace)}] {escape(e.flow_id)} ➛ "
        f'<span style="color: {colour};">{escape(e.state)}</span></p>',
    ]
    if facts.custom_message is not None:
        body.append(f"{_P}{escape(facts.custom_message)}</p>")
    body.append(f"{_P}{outcome}</p>")
    body.append(
        f'<p><a href="{escape(facts.link, quote=True)}" target="_blank" style="display: '
        "inline-block; color: #ffffff; background-color: #3498db; border-radius: 5px; "
        'padding: 12px 25px; text-decoration: none; font-weight: bold;">See details</a></p>'
    )
    for name, value in _rows(facts):
        body.append(f"{_P}<strong>{escape(str(name))} :</strong> {escape(str(value))}</p>")
    title = f"Flow [{escape(e.namespace)}] {escape(e.flow_id)} execution"
    return (
        '<!doctype html>\n<html>\n<head>\n<meta http-equiv="Content-Type" '
        f'content="text/html; charset=UTF-8">\n<title>{title}</title>\n</head>\n'
        '<body style="background-color: #f6f6f6; font-family: sans-serif;">\n'
        '<div style="max-width: 580px; margin: 0 auto; padding: 20px; background: #ffffff;">\n'
        + "\n".join(body)
        + "\n</div>\n</body>\n</html>\n"
    )


def text_summary(facts: ExecutionFacts) -> str:
    lines = [facts.headline]
    if facts.custom_message is not None:
        lines.append(facts.custom_message)
    lines += [facts.outcome, f"Details: {facts.link}", ""]
    lines += [f"{name}: {value}" for name, value in _rows(facts)]
    return "\n".join(lines) + "\n"
