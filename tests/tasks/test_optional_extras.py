"""The e-mail and MySQL families without their extra: their types are refused at load
with the pip install to run (the dependency is hidden from the import system)."""

from __future__ import annotations

import sys

import pytest

from engine.catalog import Catalog
from engine.errors import FlowDefinitionError
from engine.flow import load_flow
from tasks import FAMILIES, OPTIONAL_FAMILIES


@pytest.mark.parametrize(
    ("dependency", "task", "extra"),
    [
        ("aiosmtplib", "io.kestra.plugin.email.MailSend", "email"),
        ("aiosmtplib", "io.kestra.plugin.notifications.mail.MailExecution", "email"),
        ("asyncmy", "io.kestra.plugin.jdbc.mysql.Query", "mysql"),
    ],
)
def test_a_missing_extra_names_its_install(
    monkeypatch: pytest.MonkeyPatch, dependency: str, task: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, dependency, None)  # `import x` now fails
    for name in [m for m in sys.modules if m.startswith(("tasks.email", "tasks.jdbc.mysql"))]:
        monkeypatch.delitem(sys.modules, name)
    registries = Catalog((*FAMILIES, *OPTIONAL_FAMILIES)).registries
    source = f"id: f\nnamespace: t\ntasks:\n  - id: x\n    type: {task}\n"
    with pytest.raises(FlowDefinitionError, match=rf"pip install 'podium\[{extra}\]'"):
        load_flow(source, registries, source="f.yaml")
