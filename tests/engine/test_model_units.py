"""Small pieces with sharp edges: durations, state folding, retry delays, settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.durations import format_duration, parse_duration
from engine.errors import ConfigError
from engine.plugin import Retry
from engine.settings import load_settings
from engine.states import State, worst


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT15S", 15), ("PT1M30S", 90), ("P1DT2H", 93600), ("PT0.5S", 0.5), ("P1W", 604800), (3, 3)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["15s", "P", "PT", "PT1", "1 minute", "", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)  # type: ignore[arg-type]


def test_duration_round_trip() -> None:
    assert format_duration(timedelta(minutes=1, seconds=30)) == "PT1M30S"
    assert format_duration(timedelta(0)) == "PT0S"


def test_worst_state_folds_like_kestra() -> None:
    assert worst([]) is State.SUCCESS
    assert worst([State.SKIPPED, State.SKIPPED]) is State.SUCCESS
    assert worst([State.SUCCESS, State.WARNING]) is State.WARNING
    assert worst([State.WARNING, State.FAILED, State.SUCCESS]) is State.FAILED
    assert worst([State.FAILED, State.KILLED]) is State.KILLED
    assert not State.FAILED.can_become(State.RUNNING)
    assert State.RUNNING.can_become(State.FAILED)


def test_retry_delays() -> None:
    constant = Retry(type="constant", interval=timedelta(seconds=5), maxAttempts=3)
    assert constant.delay(1) == constant.delay(7) == timedelta(seconds=5)
    exponential = Retry.model_validate(
        {
            "type": "exponential",
            "interval": "PT1S",
            "maxInterval": "PT10S",
            "maxAttempts": 9,
            "delayFactor": 3,
        }
    )
    assert [exponential.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [1, 3, 9, 10]
    random = Retry.model_validate(
        {"type": "random", "minInterval": "PT1S", "maxInterval": "PT3S", "maxDuration": "PT1M"}
    )
    assert random.delay(1, 0.0) == timedelta(seconds=1)
    assert random.delay(1, 0.5) == timedelta(seconds=2)


def test_settings_layers(tmp_path: Path) -> None:
    config = tmp_path / "podium.yaml"
    config.write_text("port: 9000\nexecutor: {max_running_tasks: 4}\n")
    settings = load_settings(
        config,
        environ={"PODIUM_PORT": "9100", "PODIUM_EXECUTOR__DRAIN_SECONDS": "3", "OTHER": "x"},
        overrides={"data": str(tmp_path / "d")},
    )
    assert settings.port == 9100
    assert settings.executor.max_running_tasks == 4
    assert settings.executor.drain_seconds == 3
    assert settings.store_url == f"sqlite:///{tmp_path / 'd'}/podium.db"


def test_the_shipped_default_settings_load() -> None:
    settings = load_settings(environ={})
    assert settings.bus == "memory://"
    assert settings.port == 8080


def test_bad_settings_say_which_key(tmp_path: Path) -> None:
    config = tmp_path / "podium.yaml"
    config.write_text("port: lots\n")
    with pytest.raises(ConfigError, match="port"):
        load_settings(config, environ={})
    with pytest.raises(ConfigError, match="executor.max_running_tasks"):
        load_settings(
            config, environ={"PODIUM_PORT": "1", "PODIUM_EXECUTOR__MAX_RUNNING_TASKS": "0"}
        )


async def test_one_process_per_embedded_data_folder(tmp_path: Path) -> None:
    from engine.server import Podium
    from engine.settings import Settings

    settings = Settings(data=tmp_path / "data")
    async with Podium(settings, environ={}, serve_http=False):
        with pytest.raises(ConfigError, match="in use by another Podium process"):
            async with Podium(settings, environ={}, serve_http=False):
                pass
    async with Podium(settings, environ={}, serve_http=False):
        pass  # released on exit


@pytest.mark.parametrize("value", [-86_399_999_913_601, 10**20, "P9999999999D"])
def test_a_duration_out_of_range_is_a_clear_error(value: object) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_duration(value)  # type: ignore[arg-type]
