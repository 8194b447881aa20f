"""The compose files cannot run here (no Docker engine, no registry): check what can be
checked — every Podium service's command parses in the CLI, its settings validate, the
services it depends on exist, and the course stack matches what the course's flows use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.bus.kafka import KafkaSettings
from engine.cli import _parser
from engine.settings import load_settings
from tests.conftest import course_flow

COMPOSE = Path(__file__).resolve().parents[1] / "compose"


def services(name: str) -> dict[str, Any]:
    document = yaml.safe_load((COMPOSE / name).read_text())
    found: dict[str, Any] = document["services"]
    return found


def podium_services(name: str) -> dict[str, Any]:
    return {k: v for k, v in services(name).items() if v.get("image") == "podium:latest"}


@pytest.mark.parametrize("name", ["production.yml", "course.yml"])
def test_every_podium_command_exists_in_the_cli(name: str) -> None:
    found = podium_services(name)
    assert found
    for service, spec in found.items():
        command = spec["command"]
        args = _parser().parse_args(command)  # exits (a failure here) on an unknown command
        assert args.command in {"server", "db", "flow"}, service


@pytest.mark.parametrize("name", ["production.yml", "course.yml"])
def test_dependencies_name_services_of_the_file(name: str) -> None:
    all_services = services(name)
    for service, spec in all_services.items():
        depends = spec.get("depends_on") or {}
        assert set(depends) <= set(all_services), service


def test_production_runs_every_role_on_kafka_and_postgresql() -> None:
    found = podium_services("production.yml")
    roles = {spec["command"][1] for spec in found.values() if spec["command"][0] == "server"}
    assert roles == {"executor", "projector", "scheduler", "webserver"}
    assert found["executor"]["deploy"]["replicas"] == 2
    for service, spec in found.items():
        environ = {k: str(v) for k, v in spec["environment"].items() if "${" not in str(v)}
        settings = load_settings(environ=environ)
        assert settings.bus.startswith("kafka://"), service
        assert settings.store.startswith("postgresql://"), service
        kafka = KafkaSettings.from_url(settings.bus)
        assert kafka.bootstrap_servers == ("kafka:9092",)
    every = services("production.yml")
    assert {"kafka", "postgres"} <= set(every)
    assert every["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft


def test_the_course_stack_is_what_the_course_flows_expect() -> None:
    every = services("course.yml")
    database = every["pgdatabase"]
    assert "5432:5432" in database["ports"]
    assert "8085:80" in every["pgadmin"]["ports"]
    flow = yaml.safe_load(course_flow("04_postgres_taxi.yaml").read_text())
    values = next(
        d["values"] for d in flow["pluginDefaults"] if d["type"].endswith("jdbc.postgresql")
    )
    env = database["environment"]
    assert values["url"] == f"jdbc:postgresql://pgdatabase:5432/{env['POSTGRES_DB']}"
    assert (values["username"], values["password"]) == (
        env["POSTGRES_USER"],
        env["POSTGRES_PASSWORD"],
    )
