"""`podium nsfiles sync` and `podium flow deploy --namespace`: push a local folder into a
namespace, as Kestra's `namespace files update` and `flow namespace update` do.

    podium nsfiles sync DIR --namespace NS [--delete] [--server URL --user U:P]
    podium flow deploy DIR… --namespace NS [--delete] [--server URL --user U:P]

Without --server they write the store of the local data folder (settings as for every
command); with it they go through the REST API. Files and folders whose name starts with
`.` are left out (`.git`, `.venv`), and so are symlinks (nothing outside DIR is read).
`--delete` removes what the namespace holds and DIR does not: namespace files, or flows
of exactly that namespace. Locally a sync is one transaction; over the API the files go
as one zip (one transaction too), then the deletions.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError, FlowDefinitionError

if TYPE_CHECKING:
    import aiohttp

    from engine.flow import Flow

# Flows, the catalog and the store are imported by the commands that use them: every
# `podium` command builds its parser from this module.

__all__ = ["add_arguments", "add_nsfiles_commands", "deploy_namespace", "sync_namespace_files"]

EXIT_OK, EXIT_FAILED = 0, 1
HTTP_TIMEOUT_SECONDS = {"total": 300, "connect": 10}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", help="the namespace to update")
    parser.add_argument("--delete", action="store_true", help="remove what DIR does not hold")
    parser.add_argument("--server", help="a Podium (or Kestra) URL; default: the local store")
    parser.add_argument(
        "--user", default=os.environ.get("PODIUM_USER"), help="USER:PASSWORD for --server"
    )


def add_nsfiles_commands(commands: Any) -> None:
    nsfiles = commands.add_parser("nsfiles", help="namespace files").add_subparsers(
        dest="action", required=True
    )
    sync = nsfiles.add_parser("sync", help="make a namespace's files those of a local folder")
    sync.add_argument("folder", type=Path)
    sync.add_argument("--config", type=Path, help="a settings file")
    sync.add_argument("--data", type=Path, help="the data folder (embedded store)")
    add_arguments(sync)


def local_files(folder: Path) -> dict[str, bytes]:
    """`/relative/path` -> bytes of every regular file under `folder`, hidden names and
    symlinks left out."""
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder")
    found: dict[str, bytes] = {}
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not Path(top, d).is_symlink())
        for name in sorted(names):
            path = Path(top, name)
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            found["/" + path.relative_to(folder).as_posix()] = path.read_bytes()
    return found


def _session(args: argparse.Namespace) -> aiohttp.ClientSession:
    import aiohttp  # a quarter of a second to import: only the commands that talk HTTP

    auth = None
    if args.user:
        user, _, password = args.user.partition(":")
        auth = aiohttp.BasicAuth(user, password)
    timeout = aiohttp.ClientTimeout(**HTTP_TIMEOUT_SECONDS)
    return aiohttp.ClientSession(args.server.rstrip("/"), auth=auth, timeout=timeout)


async def _check(response: aiohttp.ClientResponse, what: str) -> None:
    if response.status >= 400:
        text = await response.text()
        raise ConfigError(f"{what}: the server answered {response.status}: {text[:500]}")


async def sync_namespace_files(args: argparse.Namespace) -> int:
    if not args.namespace:
        raise ConfigError("nsfiles sync needs --namespace")
    wanted = local_files(args.folder)
    if args.server:
        gone = await _sync_remote(args, wanted)
    else:
        gone = await _sync_local(args, wanted)
    print(f"podium: {len(wanted)} file(s) in namespace {args.namespace}, {len(gone)} deleted")
    return EXIT_OK


async def _sync_local(args: argparse.Namespace, wanted: dict[str, bytes]) -> list[str]:
    from engine.nsfiles import NamespaceFileError, NamespaceFileLimits, NamespaceFiles
    from engine.settings import load_settings
    from engine.store import open_store

    settings = load_settings(args.config, overrides={"data": args.data})
    limits = NamespaceFileLimits(
        max_file_bytes=settings.namespace_files.max_file_bytes,
        max_namespace_bytes=settings.namespace_files.max_namespace_bytes,
    )
    async with open_store(settings.store_url) as store:
        files = NamespaceFiles(store, limits)
        try:
            present = {r.path for r in await files.files(args.namespace)}
            gone = sorted(present - wanted.keys()) if args.delete else []
            await files.write(args.namespace, wanted, delete=gone)
        except NamespaceFileError as exc:
            raise ConfigError(exc.message) from None
    return gone


async def _sync_remote(args: argparse.Namespace, wanted: dict[str, bytes]) -> list[str]:
    base = f"/api/v1/namespaces/{args.namespace}/files"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in wanted.items():
            archive.writestr(path[1:], data)
    async with _session(args) as http:
        if wanted:
            import aiohttp

            form = aiohttp.FormData()
            form.add_field("fileContent", buffer.getvalue(), filename="sync.zip")
            async with http.post(base, params={"path": "/"}, data=form) as got:
                await _check(got, "upload")
        gone: list[str] = []
        if args.delete:
            async with http.get(base + "/search", params={"q": ""}) as got:
                await _check(got, "list")
                present = set(await got.json())
            gone = sorted(present - wanted.keys())
            for path in gone:
                async with http.delete(base, params={"path": path}) as got:
                    await _check(got, f"delete {path}")
    return gone


def _flow_sources(paths: list[Path], namespace: str) -> list[tuple[Path, str, Flow]] | None:
    from engine.catalog import default_registries
    from engine.flow import load_flow

    registries = default_registries()
    found: list[tuple[Path, str, Flow]] = []
    failed = 0
    for path in paths:
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
            if path.is_dir()
            else [path]
        )
        for file in files:
            try:
                source = file.read_text(encoding="utf-8")
                flow = load_flow(source, registries, source=str(file))
            except OSError as exc:
                print(f"{file}: cannot read: {exc.strerror}", file=sys.stderr)
                failed += 1
                continue
            except FlowDefinitionError as exc:
                print(exc, file=sys.stderr)
                failed += 1
                continue
            if flow.namespace != namespace and not flow.namespace.startswith(namespace + "."):
                print(
                    f"{file}: the flow's namespace {flow.namespace} is not {namespace} "
                    "or one of its children",
                    file=sys.stderr,
                )
                failed += 1
                continue
            found.append((file, source, flow))
    if failed:
        print(f"podium: nothing deployed: {failed} file(s) with problems", file=sys.stderr)
        return None
    return found


async def deploy_namespace(args: argparse.Namespace) -> int:
    """All or nothing for validation: every flow is checked before the first is stored."""
    if not args.namespace:
        raise ConfigError("--delete and --server need --namespace")
    sources = _flow_sources(list(args.paths), args.namespace)
    if sources is None:
        return EXIT_FAILED
    keep = {(flow.namespace, flow.id) for _, _, flow in sources}
    if args.server:
        deleted = await _deploy_remote(args, sources, keep)
    else:
        deleted = await _deploy_local(args, sources, keep)
    for file, _, flow in sources:
        print(f"{file}: {flow.namespace}.{flow.id}")
    print(f"podium: {len(sources)} flow(s) deployed to {args.namespace}, {len(deleted)} deleted")
    return EXIT_OK


async def _deploy_local(
    args: argparse.Namespace, sources: list[tuple[Path, str, Flow]], keep: set[tuple[str, str]]
) -> list[str]:
    from engine.catalog import default_registries
    from engine.flows import FlowRepository
    from engine.settings import load_settings
    from engine.store import open_store

    settings = load_settings(args.config, overrides={"data": args.data})
    async with open_store(settings.store_url) as store:
        flows = FlowRepository(store, default_registries())
        for file, source, _ in sources:
            await flows.save(source, name=str(file))
        deleted = []
        if args.delete:
            for record in await flows.list():
                if record.namespace == args.namespace and (record.namespace, record.id) not in keep:
                    await flows.delete(record.namespace, record.id)
                    deleted.append(record.id)
    return deleted


async def _deploy_remote(
    args: argparse.Namespace, sources: list[tuple[Path, str, Flow]], keep: set[tuple[str, str]]
) -> list[str]:
    yaml = {"Content-Type": "application/x-yaml"}
    async with _session(args) as http:
        for file, source, flow in sources:
            async with http.post("/api/v1/flows", data=source, headers=yaml) as got:
                if got.status == 409:
                    path = f"/api/v1/flows/{flow.namespace}/{flow.id}"
                    async with http.put(path, data=source, headers=yaml) as again:
                        await _check(again, str(file))
                else:
                    await _check(got, str(file))
        deleted: list[str] = []
        if args.delete:
            async with http.get(f"/api/v1/flows/{args.namespace}") as got:
                await _check(got, "list flows")
                present = [f["id"] for f in await got.json()]
            for flow_id in present:
                if (args.namespace, flow_id) not in keep:
                    async with http.delete(f"/api/v1/flows/{args.namespace}/{flow_id}") as got:
                        await _check(got, f"delete {flow_id}")
                    deleted.append(flow_id)
    return deleted
