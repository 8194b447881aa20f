"""The `podium` command line.

podium server local [--flows DIR] [--port N] [--data DIR]   every role, embedded defaults
podium server standalone [--config FILE] [--port N]          every role, configured backends
podium server executor|projector|scheduler|webserver [--port N]   one role (Kafka bus)
podium db migrate                                            apply the store's migrations
podium projector rebuild [--yes]                             replay the events into the store
podium flow validate FILE…                                   print every problem; exit 1 if any
podium flow deploy DIR… [--namespace NS [--delete] [--server URL]]   validate, then store, every flow
podium nsfiles sync DIR --namespace NS [--delete] [--server URL]     a folder -> namespace files
podium flow run FILE [--input k=v …] [--flows DIR] [-q]      run once, live, in-process
podium trigger backfill NS FLOW TRIGGER --start ISO [--end ISO] …   run past schedule slots
podium kv set|get|ls|rm NAMESPACE [KEY [VALUE]] [--server URL]   the KV store (engine/kv/cli.py)

Settings come from --config (default: config/default.yaml), then PODIUM_* variables
(PODIUM_BUS=kafka://…, PODIUM_STORE=postgresql://…), then flags.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import logging
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import cli_namespace
from engine.errors import ConfigError, FlowDefinitionError, InputError, TransientError
from engine.pydantic_plugins import skip_empty_plugin_scan

if TYPE_CHECKING:
    from engine.console import ProgressView
    from engine.events import EventDocument, TaskRunChanged
    from engine.flows import FlowRepository
    from engine.settings import Settings
    from triggers.base import TriggerContext

# Each command imports what it needs: a `podium flow run` of a small flow is over in a
# fraction of a second, and importing the catalog, the templates or the web app it does
# not use would be most of it (bench/foundation.py --only cli).

__all__ = ["entry", "main", "open_data", "tune_gc"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

ROLE_HELP = {
    "local": "every role in one process, on embedded defaults",
    "standalone": "every role in one process, on the configured bus and store",
    "executor": "consume requests and walk flows (a consumer group: run several)",
    "projector": "write events into the store",
    "scheduler": "run the triggers (schedules, file arrivals, flow triggers)",
    "webserver": "the REST API, the web UI and webhooks",
}


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"podium: {what} must look like key=value, got {item!r}")
        out[key] = value
    return out


def _split_files(
    flow: Any, given: dict[str, str]
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """FILE inputs name local files on the command line; read them here (only the CLI
    may: over the API a path is not an upload)."""
    file_inputs = {i.id for i in flow.inputs if i.type == "FILE"}
    inputs, files = {}, {}
    for key, value in given.items():
        if key in file_inputs and not value.startswith("kestra://"):
            path = Path(value.removeprefix("@")).expanduser()
            try:
                files[key] = (path.name, path.read_bytes())
            except OSError as exc:
                raise InputError({key: f"cannot read {path}: {exc.strerror}"}) from None
        else:
            inputs[key] = value
    return inputs, files


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser; given `argv`, only the command it names gets its
    subcommands and arguments (each other one is a name in the usage line), which is
    all that parsing it, its errors and its help need: a `podium flow run` does not
    build the 20-odd parsers of the other commands (bench/README.md). Without `argv`,
    when it names no command, or asks for help, every command is built."""
    parser = argparse.ArgumentParser(prog="podium", description="Run Kestra-format YAML flows.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    named = _command_named(argv)
    for name, add_command in _COMMANDS.items():
        if named is None or name == named:
            add_command(commands)
        else:
            commands.add_parser(name)
    return parser


def _command_named(argv: Sequence[str] | None) -> str | None:
    """The command `argv` names (its first word, `podium -v flow run` → "flow"), or None
    when every command's parser is needed: help lists each one with its own help."""
    if argv is None or "-h" in argv or "--help" in argv:
        return None
    word = next((w for w in argv if not w.startswith("-")), None)
    return word if word in _COMMANDS else None


def _add_server(commands: Any) -> None:
    server = commands.add_parser("server", help="run Podium").add_subparsers(
        dest="role", required=True
    )
    for role, help_text in ROLE_HELP.items():
        sub = server.add_parser(role, help=help_text)
        sub.add_argument(
            "--config", type=Path, help="a settings file (default config/default.yaml)"
        )
        sub.add_argument(
            "--data", type=Path, help="where local state is kept (default ./podium-data)"
        )
        sub.add_argument(
            "--port",
            type=int,
            help="HTTP port (default 8080)"
            if role in ("local", "standalone", "webserver")
            else "serve /health on this port (default: no HTTP)",
        )
        sub.add_argument("--host", help="HTTP address (default 127.0.0.1)")
        sub.add_argument(
            "--debug", action="store_true", help="show the traceback of a start-up error"
        )
        if role in ("local", "standalone"):
            sub.add_argument(
                "--flows", type=Path, help="load flows from this folder and follow its changes"
            )


def _add_db(commands: Any) -> None:
    db = commands.add_parser("db", help="the store").add_subparsers(dest="action", required=True)
    migrate = db.add_parser("migrate", help="apply the store's schema migrations and exit")
    migrate.add_argument("--config", type=Path, help="a settings file")
    migrate.add_argument("--data", type=Path, help="the data folder (embedded store)")


def _add_projector(commands: Any) -> None:
    projector = commands.add_parser("projector", help="the projection").add_subparsers(
        dest="action", required=True
    )
    rebuild = projector.add_parser(
        "rebuild", help="empty the projection and replay every retained event into it"
    )
    rebuild.add_argument("--config", type=Path, help="a settings file")
    rebuild.add_argument("--data", type=Path, help="the data folder (embedded store)")
    rebuild.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rebuild.add_argument(
        "--partial",
        action="store_true",
        help="rebuild even if the bus no longer holds the oldest events",
    )


def _add_flow(commands: Any) -> None:
    flow = commands.add_parser("flow", help="work with flow files").add_subparsers(
        dest="action", required=True
    )
    validate = flow.add_parser("validate", help="check flow files and print every problem")
    validate.add_argument("files", nargs="+", type=Path)
    deploy = flow.add_parser(
        "deploy", help="validate flow files (or folders of them), then store them all"
    )
    deploy.add_argument("paths", nargs="+", type=Path)
    deploy.add_argument("--config", type=Path, help="a settings file")
    deploy.add_argument("--data", type=Path, help="the data folder (embedded store)")
    cli_namespace.add_arguments(deploy)
    run = flow.add_parser("run", help="run a flow once, in this process, with live progress")
    run.add_argument("file", type=Path)
    run.add_argument("--input", "-i", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--label", "-l", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--flows", type=Path, help="a folder of other flows (subflows) to load too")
    run.add_argument("--data", type=Path, help="keep state here (default: a temporary folder)")
    run.add_argument(
        "--quiet", "-q", action="store_true", help="no live view: print only the summary"
    )


def _add_trigger(commands: Any) -> None:
    trigger = commands.add_parser("trigger", help="work with flow triggers").add_subparsers(
        dest="action", required=True
    )
    backfill = trigger.add_parser(
        "backfill", help="run a Schedule trigger's past slots (stop the server first)"
    )
    backfill.add_argument("namespace")
    backfill.add_argument("flow")
    backfill.add_argument("trigger")
    backfill.add_argument(
        "--start", required=True, help="ISO-8601, included; without an offset: the trigger's zone"
    )
    backfill.add_argument("--end", help="ISO-8601, excluded (default: now)")
    backfill.add_argument("--input", "-i", action="append", default=[], metavar="KEY=VALUE")
    backfill.add_argument("--label", "-l", action="append", default=[], metavar="KEY=VALUE")
    backfill.add_argument(
        "--rerun", action="store_true", help="run slots that already ran again, as new executions"
    )
    backfill.add_argument("--data", type=Path, help="the data folder (default ./podium-data)")
    backfill.add_argument(
        "--config", type=Path, help="a settings file instead of config/default.yaml"
    )


def _add_kv(commands: Any) -> None:
    from engine.kv.cli import add_kv_commands

    add_kv_commands(commands)


# In the order `podium --help` lists them.
_COMMANDS: dict[str, Callable[[Any], None]] = {
    "server": _add_server,
    "db": _add_db,
    "projector": _add_projector,
    "flow": _add_flow,
    "nsfiles": cli_namespace.add_nsfiles_commands,
    "trigger": _add_trigger,
    "kv": _add_kv,
}


# While the command starts (`entry` to `_started`), nearly everything allocated lives as
# long as the process (modules, classes, models, the flow): the collector would walk it
# some fifty times for nothing (~34 M instructions of a 1-task `flow run`, bench/README.md
# session 11). It is off until then, and what start-up built is frozen (`gc.freeze`):
# later collections, of the oldest generation too, never walk it again.
_is_starting = False


def entry() -> int:
    """The `podium` command and `python -m engine.cli`: `main` with the collector off
    until the command has started. (In-process callers, tests, call `main`.)"""
    global _is_starting
    gc.disable()
    _is_starting = True
    try:
        return main()
    finally:
        _started()


def _started() -> None:
    """The command's start-up is over: freeze what it built and turn the collector on."""
    global _is_starting
    if _is_starting:
        _is_starting = False
        gc.freeze()
        gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser(argv).parse_args(argv)
    skip_empty_plugin_scan()
    if args.command != "server" and (args.command, getattr(args, "action", None)) != (
        "flow",
        "run",
    ):
        _started()  # the server and `flow run` end their start-up themselves
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # watchfiles says "N changes detected" for every group of file events
        logging.getLogger("watchfiles").setLevel(logging.WARNING)
    try:
        if args.command == "flow" and args.action == "validate":
            return validate_files(args.files)
        if args.command == "flow" and args.action == "run":
            if not args.verbose:
                logging.getLogger("podium").setLevel(logging.WARNING)
            return _run(run_flow(args))
        if args.command == "server":
            return serve_command(args)
        if args.command == "flow" and args.action == "deploy":
            if args.namespace or args.delete or args.server:
                return _run(cli_namespace.deploy_namespace(args))
            return _run(deploy_flows(args))
        if args.command == "nsfiles" and args.action == "sync":
            return _run(cli_namespace.sync_namespace_files(args))
        if args.command == "db" and args.action == "migrate":
            return _run(migrate_store(args))
        if args.command == "projector" and args.action == "rebuild":
            if not args.yes:
                answer = input("empty the projection and replay every retained event? [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    return EXIT_USAGE
            return _run(rebuild_projection(args))
        if args.command == "kv":
            from engine.kv.cli import kv_command

            return _run(kv_command(args))
        if args.command == "trigger" and args.action == "backfill":
            from triggers.backfill import backfill_command

            return _run(backfill_command(args, open_data))
    except ConfigError as exc:
        print(f"podium: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return EXIT_USAGE


# Allocations between two collections of the youngest generation (CPython's default: 700).
# An executor allocates fast and keeps little, and every collection of the older
# generations walks every long-lived object (flows, models, modules): measured with
# bench/production.py, the default spent a third of the process's CPU in the collector.
# 50,000 rather than 10,000 (bench/README.md, session 12): one young collection instead
# of about ten, and none of the middle generation, per 1,000 executions of a 5-task flow
# on Kafka (the collector's CPU there 14 → 9 ms); peak RSS of `bench/foundation.py
# --only memory` unchanged.
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def _run(main: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop where it is installed: measured, it answers webhooks ~15% faster
    (bench/webhook.py --uvloop). PODIUM_EVENT_LOOP=asyncio keeps the standard loop."""
    tune_gc()
    if os.environ.get("PODIUM_EVENT_LOOP", "auto") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
    return asyncio.run(main)


def validate_files(files: Sequence[Path]) -> int:
    from engine.catalog import default_registries
    from engine.flow import load_flow

    registries = default_registries()
    failed = 0
    for path in files:
        try:
            flow = load_flow(path.read_bytes(), registries, source=str(path))
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror}")
            failed += 1
        except FlowDefinitionError as exc:
            for problem in exc.problems:
                print(problem)
            failed += 1
        else:
            print(f"{path}: ok ({flow.key}, {sum(1 for _ in flow.all_tasks())} tasks)")
            for deprecation in flow.deprecations:
                print(f"warning: {deprecation}")
    return EXIT_FAILED if failed else EXIT_OK


def _settings(args: argparse.Namespace, **overrides: Any) -> Any:
    from engine.settings import load_settings

    return load_settings(
        getattr(args, "config", None),
        overrides={"data": getattr(args, "data", None), **overrides},
    )


def serve_command(args: argparse.Namespace) -> int:
    """`podium server …`. A start-up problem the user can fix (a busy port, a database
    or broker out of reach, a locked data folder) is one line naming the setting to
    change, and exit code 2; `--debug` shows the traceback instead."""
    settings = _settings(args, port=args.port, host=args.host, flows=getattr(args, "flows", None))
    try:
        return _run(serve(args, settings))
    except Exception as exc:
        problem = startup_problem(exc, settings)
        if problem is None or args.debug:
            raise
        print(f"podium: {problem}", file=sys.stderr)
        return EXIT_USAGE


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{userinfo.partition(':')[0]}@{host}" if at else url


def startup_problem(exc: BaseException, settings: Settings) -> str | None:
    """The one line that says what to change, for the errors a user can fix; None for
    the others (a bug: they keep their traceback)."""
    for leaf in _leaves(exc):
        if isinstance(leaf, OSError) and leaf.errno == errno.EADDRINUSE:
            return (
                f"port {settings.port} on {settings.host} is in use: choose another with "
                "--port or PODIUM_PORT (the setting `port`), or stop what holds it"
            )
        if isinstance(leaf, ConfigError):
            return str(leaf)
        if isinstance(leaf, TransientError):
            text = str(leaf)
            if text.startswith("kafka:"):
                return (
                    f"cannot reach the Kafka broker of {_without_password(settings.bus)} "
                    f"({text.removeprefix('kafka: ')}): check the setting `bus` (PODIUM_BUS)"
                )
            if text.startswith("postgresql:"):
                return (
                    f"cannot reach PostgreSQL at {_without_password(settings.store_url)} "
                    f"({text.removeprefix('postgresql: ')}): check the setting `store` "
                    "(PODIUM_STORE)"
                )
    return None


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    from engine.server import ALL_ROLES, Podium

    roles = ALL_ROLES if args.role in ("local", "standalone") else {args.role}
    if args.role == "local" and not settings.bus.startswith("memory://"):
        raise ConfigError(
            f"`server local` runs on the embedded bus, not {settings.bus}: "
            "use `podium server standalone` with a configured bus"
        )
    serve_http = args.role in ("local", "standalone", "webserver") or args.port is not None
    async with Podium(settings, roles=roles, serve_http=serve_http) as podium:
        _started()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, podium.stop)
        await podium.run()
    return EXIT_OK


async def migrate_store(args: argparse.Namespace) -> int:
    from engine.store import open_store

    settings = _settings(args)
    async with open_store(settings.store_url):  # opening a store applies its migrations
        pass
    where = settings.store_url.rpartition("@")[2]  # never print a password
    print(f"podium: the store at {where} is migrated")
    return EXIT_OK


async def deploy_flows(args: argparse.Namespace) -> int:
    """All or nothing: every file is validated before the first one is stored."""
    from engine.catalog import default_registries
    from engine.flow import load_flow
    from engine.flows import FlowRepository
    from engine.store import open_store

    registries = default_registries()
    sources: list[tuple[Path, str]] = []
    failed = 0
    for path in args.paths:
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
            if path.is_dir()
            else [path]
        )
        for file in files:
            try:
                source = file.read_text(encoding="utf-8")
                load_flow(source, registries, source=str(file))
            except OSError as exc:
                print(f"{file}: cannot read: {exc.strerror}", file=sys.stderr)
                failed += 1
            except FlowDefinitionError as exc:
                print(exc, file=sys.stderr)
                failed += 1
            else:
                sources.append((file, source))
    if failed:
        print(f"podium: nothing deployed: {failed} file(s) with problems", file=sys.stderr)
        return EXIT_FAILED
    settings = _settings(args)
    async with open_store(settings.store_url) as store:
        flows = FlowRepository(store, registries)
        for file, source in sources:
            flow = await flows.save(source, name=str(file))
            print(f"{file}: {flow.namespace}.{flow.id} revision {flow.revision}")
    return EXIT_OK


async def rebuild_projection(args: argparse.Namespace) -> int:
    from engine.bus import open_bus
    from engine.bus.base import Topics
    from engine.projector import rebuild
    from engine.store import open_store

    settings = _settings(args)
    topics = Topics(settings.topic_prefix)
    journal = settings.data.resolve() / "bus" if settings.bus.startswith("memory://") else None
    async with (
        open_bus(settings.bus, journal=journal, topics=(topics.events,)) as bus,
        open_store(settings.store_url) as store,
    ):
        applied = await rebuild(bus, store, topics=topics, allow_partial=args.partial)
    print(f"podium: the projection was rebuilt from {applied} events")
    return EXIT_OK


class _Feed:
    """A projector follower that hands a view the events of its execution once they are
    stored, so `podium flow run` ends as soon as the final state is in the store (not at
    the next poll of a subscription of its own). Only the kinds the view shows are
    decoded (not the log lines of a quiet run), each with its own model. Events stored
    before the execution id is known (the request is published first) wait for it.

    A quiet view needs a task run only for the summary's outputs: its task runs' events
    are kept as they came, the latest of each (the view's rule: a change with a lower seq
    is older), and only those that name outputs are validated, once the final state is
    here (validating every change was ~9% of a trivial task's `flow run`, bench/README.md
    session 12). A change the walk would not write (a seq that is not an integer, a task
    run id that is not a string) is validated on arrival, as every change was before, so
    its error is the same; one that names outputs but that the model refuses is refused
    when the final state comes, by the same error, after the other task runs are shown."""

    def __init__(self, *, is_quiet: bool) -> None:
        from engine.events import ExecutionChanged, LogsEmitted, TaskRunChanged

        self.models: dict[str, type[Any]] = {
            "ExecutionChanged": ExecutionChanged,
            "TaskRunChanged": TaskRunChanged,
        }
        if not is_quiet:
            self.models["LogsEmitted"] = LogsEmitted
        self.view: ProgressView | None = None
        self.ended = asyncio.Event()
        self._early: list[EventDocument] = []
        self._is_quiet = is_quiet
        # a quiet run's task runs: id -> (seq, its latest change, raw or validated)
        self._kept: dict[str, tuple[int, EventDocument | TaskRunChanged]] = {}

    def __repr__(self) -> str:
        return f"<_Feed {self.view!r} ended={self.ended.is_set()}>"

    async def __call__(self, events: Sequence[EventDocument]) -> None:
        if self.view is None:
            self._early.extend(e for e in events if e.doc["kind"] in self.models)
        elif not self.ended.is_set():  # what follows the final state is not the view's
            self._show(events)

    def attach(self, view: ProgressView) -> None:
        self.view = view
        early, self._early = self._early, []
        self._show(early)

    def _show(self, events: Sequence[EventDocument]) -> None:
        view = self.view
        assert view is not None
        execution_id = view.execution_id
        keeps = self._is_quiet
        for event in events:
            doc = event.doc
            kind = doc["kind"]
            model = self.models.get(kind)
            if model is None or doc.get("execution_id") != execution_id:
                continue
            if keeps and kind == "TaskRunChanged":
                self._keep(event)
            else:
                view.show(model.model_validate_json(event.raw))
        if view.final is not None:
            try:
                self._hand_kept()
            finally:
                self.ended.set()

    def _keep(self, event: EventDocument) -> None:
        run_id, seq = event.doc["task_run_id"], event.doc["seq"]
        kept: EventDocument | TaskRunChanged = event
        if type(run_id) is not str or type(seq) is not int:
            run: TaskRunChanged = self.models["TaskRunChanged"].model_validate_json(event.raw)
            run_id, seq, kept = run.task_run_id, run.seq, run
        known = self._kept.get(run_id)
        if known is None or seq >= known[0]:
            self._kept[run_id] = (seq, kept)

    def _hand_kept(self) -> None:
        """Hand the view the kept task runs that name outputs, validated, in the order
        they first appeared; then raise the first error of a change the model refused."""
        from pydantic import ValidationError

        from engine.events import EventDocument

        view = self.view
        assert view is not None
        model = self.models["TaskRunChanged"]
        kept, self._kept = self._kept, {}
        refused: ValidationError | None = None
        for _, event in kept.values():
            if isinstance(event, EventDocument):
                if not event.doc.get("outputs"):
                    continue  # the summary shows outputs only
                try:
                    event = model.model_validate_json(event.raw)
                except ValidationError as exc:
                    refused = refused or exc
                    continue
            view.show(event)
        if refused is not None:
            raise refused


async def _follow(view: ProgressView, feed: _Feed, server: asyncio.Task[None]) -> None:
    """Show the execution until its final state is stored (or the server stopped),
    redrawing the live table every REFRESH_SECONDS, never per event."""
    from engine.console import REFRESH_SECONDS

    feed.attach(view)
    ended = asyncio.ensure_future(feed.ended.wait())
    try:
        while not feed.ended.is_set() and not server.done():
            await asyncio.wait(
                (ended, server), timeout=REFRESH_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            view.refresh()
    finally:
        ended.cancel()


@contextlib.asynccontextmanager
async def open_data(settings: Settings) -> AsyncIterator[tuple[FlowRepository, TriggerContext]]:
    """A data folder's flows and trigger context, for commands that publish without
    running the server (`podium trigger backfill`)."""
    from engine.server import Podium

    async with Podium(settings, serve_http=False) as podium:
        yield podium.flows, podium.triggers.ctx


async def run_flow(args: argparse.Namespace) -> int:
    from engine.console import ProgressView
    from engine.intake import FlowNotFound
    from engine.server import Podium
    from engine.settings import load_settings
    from engine.states import State

    with contextlib.ExitStack() as stack:
        data = args.data or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="podium-run-"))
        )
        settings = load_settings(overrides={"data": data, "flows": args.flows})
        try:
            source = args.file.read_text(encoding="utf-8")
        except OSError as exc:
            print(f"podium: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
        async with Podium(settings, serve_http=False, is_durable=args.data is not None) as podium:
            try:
                flow = await podium.flows.save(source, name=str(args.file))
            except FlowDefinitionError as exc:
                print(exc, file=sys.stderr)
                return EXIT_USAGE
            _started()
            feed = _Feed(is_quiet=args.quiet)
            assert podium.local_projector is not None  # every role runs here
            podium.local_projector.follow(feed)
            ready = asyncio.Event()
            async with asyncio.TaskGroup() as group:
                server = group.create_task(podium.run(ready=ready))
                await ready.wait()
                try:
                    inputs, files = _split_files(flow, _pairs(args.input, "--input"))
                    request = await podium.intake.execute(
                        flow.namespace,
                        flow.id,
                        inputs=inputs,
                        labels=_pairs(args.label, "--label"),
                        files=files,
                    )
                except (InputError, FlowNotFound) as exc:
                    print(f"podium: {exc}", file=sys.stderr)
                    podium.stop()
                    return EXIT_USAGE
                view = ProgressView(request.execution_id, is_quiet=args.quiet)
                loop = asyncio.get_running_loop()
                loop.add_signal_handler(
                    signal.SIGINT,
                    lambda: group.create_task(
                        podium.intake.kill(request.execution_id, flow.namespace, flow.id)
                    ),
                )
                try:
                    await _follow(view, feed, server)
                finally:
                    view.close()
                podium.stop()
            view.summary()
            final = view.final
            if final is None:
                return EXIT_FAILED
            return EXIT_OK if final.state in (State.SUCCESS, State.WARNING) else EXIT_FAILED
    return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(entry())
