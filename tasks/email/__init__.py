"""Task family `email` (behind `pip install 'podium[email]'`): Kestra's mail tasks.

`message.py` composes a message from a flow's properties (addresses, bodies, files from
the execution's internal storage, all checked); `send.py` is `MailSend` and the SMTP
connection (aiosmtplib, Kestra's transport strategies); `execution.py` is
`MailExecution`, an execution's summary as the chat `…Execution` tasks send it
(tasks/notifications/summary.py).
"""

from tasks.email.execution import MailExecution
from tasks.email.send import MailSend

__all__ = ["TASKS", "MailExecution", "MailSend"]

TASKS: tuple[type, ...] = (MailSend, MailExecution)
