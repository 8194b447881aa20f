"""Settings: read once (a YAML file, then PODIUM_* variables, then flags) and passed down."""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from engine.durations import parse_duration
from engine.errors import ConfigError

__all__ = ["Settings", "load_settings"]


class _Section(BaseModel):
    # Built on first use: `Settings` validates its sections inline (see `_section`), so
    # the start of every command builds one schema, not one per section as well.
    model_config = ConfigDict(extra="forbid", defer_build=True)


def _section() -> Any:
    """A section's field: absent from the settings, it is validated from `{}` by the
    `Settings` schema, rather than made by calling the section's class (which would
    build that class's own schema too: ~5 ms of each start, bench/README.md)."""
    return Field(default={}, validate_default=True)


class JournalSettings(_Section):
    fsync: bool = False
    segment_bytes: int = Field(default=64 << 20, ge=1 << 16)


class ExecutorSection(_Section):
    max_running_executions: int = Field(default=10_000, ge=1)
    max_running_tasks: int = Field(default=64, ge=1)
    drain_seconds: float = Field(default=10.0, ge=0)
    # On a rebalance, how long walks of revoked partitions may finish before they are
    # handed over unfinished; keep under the bus's rebalance timeout.
    revoke_grace_seconds: float = Field(default=5.0, ge=0)
    # Resumes in a row without a task run finishing before an execution is failed (a task
    # that crashes its executor every time must not crash every executor; engine/recovery.py).
    max_recoveries: int = Field(default=5, ge=1)


class ProjectorSection(_Section):
    batch_size: int = Field(default=2_000, ge=1)


class TriggerSection(_Section):
    refresh_seconds: float = Field(default=5.0, gt=0)
    # Folders file triggers may watch (Kestra's allowed-paths); PODIUM_ALLOWED_PATHS is a
    # colon-separated list.
    allowed_paths: list[Path] = Field(default_factory=list)


class WebhookSection(_Section):
    max_body_bytes: int = Field(default=10 << 20, ge=1)
    max_in_flight: int = Field(default=1000, ge=1)
    # Key guessing: failed calls (wrong key, unknown flow) one client address may make, per
    # minute after a first burst; past it the client gets 429 until its allowance refills,
    # even with the right key. The address is the TCP peer: behind a proxy every caller
    # shares the proxy's. 0 turns it off. At most `failed_keys_clients` are remembered.
    failed_keys_per_minute: int = Field(default=30, ge=0)
    failed_keys_burst: int = Field(default=10, ge=1)
    failed_keys_clients: int = Field(default=10_000, ge=1)


class NamespaceFilesSection(_Section):
    # Namespace files live in the store, a row per revision (docs/architecture.md).
    max_file_bytes: int = Field(default=10 << 20, ge=1)
    max_namespace_bytes: int = Field(default=100 << 20, ge=1)


def _comma_list(value: Any) -> Any:
    """A list setting may come from a variable as `a,b,c`."""
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


class HttpSection(_Section):
    """Request bodies by kind (over its limit: 413, naming the setting), and who may send
    state-changing requests. docs/api.md ("Limits") lists what each kind covers."""

    # A flow's YAML (or JSON): create, update, validate.
    max_flow_bytes: int = Field(default=1 << 20, ge=1 << 10)
    # A JSON body: execution inputs, labels, trigger updates, login.
    max_json_bytes: int = Field(default=1 << 20, ge=1 << 10)
    # A multipart or urlencoded form: execution inputs with their FILE uploads.
    max_form_bytes: int = Field(default=10 << 20, ge=1 << 10)
    # How long a client may take to send a body before it gets 408.
    body_seconds: float = Field(default=60.0, gt=0)
    # Origins (`https://ops.example.com`) besides the server's own from which a browser
    # may send state-changing requests (cross-site request forgery: engine/web/auth.py).
    allowed_origins: list[str] = Field(default_factory=list)
    # Proxies (addresses or networks) whose X-Forwarded-Proto, -Host and -For are
    # believed: the session cookie gets `Secure` behind TLS, rate limits see the client.
    trusted_proxies: list[str] = Field(default_factory=list)

    _split = field_validator("allowed_origins", "trusted_proxies", mode="before")(_comma_list)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin such as https://host[:port]")
        return [o.lower() for o in value]

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for proxy in value:
            ipaddress.ip_network(proxy, strict=False)  # a ValueError says what is wrong
        return value


class ScriptsSection(_Section):
    """What script tasks (Shell, Python, ... on the Process runner) see of the server."""

    # Server environment variables passed to scripts besides PATH, HOME, LANG and TZ
    # (the server's own PODIUM_* and the SECRET_* never are: use secret() in the flow).
    env_allow: list[str] = Field(default_factory=list)

    _split = field_validator("env_allow", mode="before")(_comma_list)

    @field_validator("env_allow")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if name.upper().startswith(("PODIUM_", "SECRET_")):
                raise ValueError(f"{name}: PODIUM_* and SECRET_* variables never reach scripts")
        return value


class AuthUser(_Section):
    username: str = Field(min_length=1, max_length=128, pattern=r"^[^:\s]+$")
    # `scrypt$n$r$p$salt$hash` (base64), as `podium.web.auth.hash_password` writes it
    password_hash: str = Field(pattern=r"^scrypt\$\d+\$\d+\$\d+\$[^$]+\$[^$]+$")

    def __repr__(self) -> str:
        return f"<AuthUser {self.username}>"


class AuthSection(_Section):
    """Basic auth and UI sessions for the API. The first user may also come from
    PODIUM_ADMIN_USER / PODIUM_ADMIN_PASSWORD; with no user at all, `server local`
    creates an `admin` with a random password (its hash kept in the data folder)."""

    enabled: bool = True
    users: list[AuthUser] = Field(default_factory=list)
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # Password guessing: failed logins (Basic or the login form) one client address, and
    # one user name, may make per minute after a first burst; past it: 429 and
    # Retry-After, even with the right password. 0 turns a limit off.
    failed_logins_per_minute: int = Field(default=10, ge=0)
    failed_logins_burst: int = Field(default=10, ge=1)
    failed_logins_per_user_per_minute: int = Field(default=30, ge=0)
    failed_logins_per_user_burst: int = Field(default=30, ge=1)
    # Password checks (scrypt) run on their own threads, at most this many at once; a
    # client has at most one check in flight, and past `hash_queue` waiting checks the
    # answer is 429 rather than a wait that would starve everyone.
    hash_threads: int = Field(default=2, ge=1, le=64)
    hash_queue: int = Field(default=64, ge=1)


def _retention_period(value: Any) -> Any:
    if value is None or isinstance(value, timedelta):
        return value
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f"not an ISO-8601 duration (e.g. P30D): {value!r}")
    period = parse_duration(value)
    if period < timedelta(hours=1):
        raise ValueError(
            f"{value!r} is shorter than an hour: retention deletes what ended before it, "
            "so a short one would delete executions as they end (leave it unset to keep all)"
        )
    return period


RetentionPeriod = Annotated[timedelta | None, BeforeValidator(_retention_period)]


class RetentionRule(_Section):
    """How long ended executions (with their task runs, logs, metrics and files), log
    lines, and execution files are kept; unset, forever (engine/retention.py)."""

    executions: RetentionPeriod = None
    logs: RetentionPeriod = None
    files: RetentionPeriod = None


class RetentionSection(RetentionRule):
    # The job runs in the scheduler role, at start and then this often.
    interval: float = Field(default=3600.0, ge=1)
    # Executions per deletion (each batch is one short transaction).
    batch_size: int = Field(default=500, ge=1, le=1000)
    # Per namespace (and its children), overriding what is set here; the most specific
    # namespace wins, and what it leaves unset comes from the next less specific one.
    namespaces: dict[str, RetentionRule] = Field(default_factory=dict)

    @field_validator("namespaces")
    @classmethod
    def _names(cls, value: dict[str, RetentionRule]) -> dict[str, RetentionRule]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
                raise ValueError(f"{name!r} is not a namespace")
        return value

    @property
    def is_set(self) -> bool:
        rules = [self, *self.namespaces.values()]
        return any(r.executions or r.logs or r.files for r in rules)


class Settings(_Section):
    data: Path = Path("./podium-data")
    bus: str = "memory://"
    store: str = "sqlite:///{data}/podium.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # The address users reach the UI at (Kestra's `kestra.url`), for links in notifications;
    # unset, http://{host}:{port}.
    url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # The largest record Podium puts on the bus: outputs and request inputs above it are
    # refused with a clear error (a Kafka broker's message.max.bytes must allow it, plus
    # a little for the envelope).
    max_record_bytes: int = Field(default=4 << 20, ge=1 << 16)
    # Topic and consumer-group names start with it (`podium.requests`, `podium-executor`):
    # several installs can share one Kafka cluster.
    topic_prefix: str = Field(default="podium", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
    flows: Path | None = None
    journal: JournalSettings = _section()
    executor: ExecutorSection = _section()
    projector: ProjectorSection = _section()
    triggers: TriggerSection = _section()
    webhook: WebhookSection = _section()
    auth: AuthSection = _section()
    namespace_files: NamespaceFilesSection = _section()
    http: HttpSection = _section()
    scripts: ScriptsSection = _section()
    retention: RetentionSection = _section()
    # Server-wide pluginDefaults, as Kestra's `kestra.plugins.defaults`: the same shape as
    # a flow's (`type`, `values`, `forced`); a flow's own come first unless these are forced.
    plugin_defaults: list[dict[str, Any]] = Field(default_factory=list)
    # Server-wide template variables, `{{ globals.x }}` (Kestra's `kestra.variables.globals`).
    globals: dict[str, Any] = Field(default_factory=dict)

    @property
    def public_url(self) -> str:
        return (self.url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def store_url(self) -> str:
        return self.store.replace("{data}", str(self.data))

    def __repr__(self) -> str:
        return f"<Settings bus={self.bus} store={self.store_url} port={self.port}>"


def default_config_file() -> Path | None:
    """config/default.yaml: from the source tree, or where `pip install` put it."""
    for candidate in (
        Path(__file__).resolve().parent.parent / "config" / "default.yaml",
        Path(sys.prefix) / "share" / "podium" / "config" / "default.yaml",
    ):
        if candidate.is_file():
            return candidate
    return None


def _load_yaml(text: str) -> Any:
    """`yaml.safe_load`, parsed by libyaml where PyYAML has it (0.1 ms against 0.9 for the
    default file). libyaml words its errors otherwise and its marks show no snippet, so
    a text it refuses is parsed again by PyYAML's own parser, whose error is raised. A
    text with a tab is PyYAML's alone: libyaml reads some tabs PyYAML refuses
    (`key\t: value`), and no other difference showed (tests/engine/test_settings_yaml.py)."""
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None and "\t" not in text:
        try:
            return yaml.load(text, Loader=loader)  # CSafeLoader: a safe loader
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)


def load_settings(
    config: Path | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    data: dict[str, Any] = {}
    path = config or default_config_file()
    if path is not None:
        try:
            loaded = _load_yaml(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read settings from {path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: settings are a YAML mapping")
        data.update(loaded)
    if environ.get("PODIUM_ALLOWED_PATHS"):
        paths = [p for p in environ["PODIUM_ALLOWED_PATHS"].split(":") if p]
        data.setdefault("triggers", {})["allowed_paths"] = paths
    for name, value in environ.items():
        if name == "PODIUM_ALLOWED_PATHS":
            continue
        if name.startswith("PODIUM_") and not name.startswith("PODIUM_TEST_"):
            keys = name[len("PODIUM_") :].lower().split("__")
            if keys[0] in Settings.model_fields:
                _set(data, keys, value)
    for key, value in (overrides or {}).items():
        if value is not None:
            _set(data, key.split("."), value)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from exc


def _set(data: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        data = data.setdefault(key, {})
    data[keys[-1]] = value
