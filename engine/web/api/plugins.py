"""Plugins: the flow's JSON Schema and each plugin type's documentation, as Kestra serves them.

GET /plugins/schemas/{type}   JSON Schema draft 7 of a flow (`flow`), a task or a trigger
                              (`?arrayOf=true`: of a list of them): the editor's completion
                              and hover, and VS Code's YAML extension, read it
GET /plugins                  the plugin families, each listing its types by kind
GET /plugins/{cls}            one type's documentation: its schema, outputs, an example

Everything comes from engine/plugin_schema.py, built once per process (the registries
are frozen at start) in a worker thread, so the first request does not stall the others.
Answers carry an ETag: a browser revalidates (304) and sees new plugins after a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from engine.flow import Registries
from engine.plugin_schema import PluginDoc, flow_schema, plugin_doc, plugin_docs, type_schema
from engine.web.api import Services
from engine.web.http import ApiError, ApiRoutes, query_bool

__all__ = ["plugin_routes"]

_SCHEMA_TYPES = ("flow", "task", "trigger")
_DEFS = "#/definitions/"
_UNIONS = frozenset({"tasks", "triggers", "conditions"})


@dataclass(frozen=True)
class _Body:
    data: bytes
    etag: str


def _body(value: Any) -> _Body:
    data = orjson.dumps(value)
    return _Body(data, f'"{hashlib.sha256(data).hexdigest()[:20]}"')


def _answer(request: web.Request, body: _Body) -> web.StreamResponse:
    headers = {"ETag": body.etag, "Cache-Control": "no-cache"}
    if body.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    response = web.Response(body=body.data, content_type="application/json", headers=headers)
    if len(body.data) > 1024:
        response.enable_compression()
    return response


def _referenced(definition: Any, definitions: Mapping[str, Any]) -> dict[str, Any]:
    """The definitions a type's schema refers to, transitively; the unions of every task
    or trigger are left out (the flow schema has them)."""
    found: dict[str, Any] = {}
    pending = [definition]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_DEFS):
                name = ref[len(_DEFS) :]
                if name not in found and name not in _UNIONS and name in definitions:
                    found[name] = definitions[name]
                    pending.append(definitions[name])
            pending.extend(v for k, v in node.items() if k != "$ref")
        elif isinstance(node, list):
            pending.extend(node)
    return dict(sorted(found.items()))


def _markdown(doc: PluginDoc, definition: Mapping[str, Any]) -> str:
    lines = [f"# {doc.type}", ""]
    if doc.description:
        lines += [doc.description, ""]
    lines += ["```yaml", doc.example.rstrip(), "```", "", "## Properties", ""]
    required = set(definition.get("required", ()))
    for name, prop in definition.get("properties", {}).items():
        flags = ["required" if name in required else "optional"]
        if prop.get("$dynamic"):
            flags.append("dynamic")
        if "default" in prop and prop["default"] is not None:
            flags.append(f"default {orjson.dumps(prop['default']).decode()}")
        text = f" — {prop['description']}" if prop.get("description") else ""
        lines.append(f"- `{name}` ({', '.join(flags)}){text}")
    if doc.outputs:
        lines += ["", "## Outputs", "", *(f"- `{name}`" for name in doc.outputs)]
    return "\n".join(lines) + "\n"


def _doc_json(doc: PluginDoc, schema: Mapping[str, Any]) -> dict[str, Any]:
    definitions = schema["definitions"]
    definition = definitions[doc.type]
    return {
        "cls": doc.type,
        "kind": doc.kind,
        "title": doc.title,
        "description": doc.description,
        "aliases": list(doc.aliases),
        "example": doc.example,
        "markdown": _markdown(doc, definition),
        "schema": {
            "properties": definition,
            "outputs": {
                "type": "object",
                "properties": {name: {} for name in doc.outputs},
            },
            "definitions": _referenced(definition, definitions),
        },
    }


def _families(docs: list[PluginDoc]) -> list[dict[str, Any]]:
    """Types grouped as Kestra's plugin list groups them: by family (io.kestra.plugin.gcp)."""
    families: dict[str, dict[str, Any]] = {}
    for doc in docs:
        parts = doc.type.split(".")
        group = ".".join(parts[:4]) if len(parts) > 4 else ".".join(parts[:-1])
        family = families.setdefault(
            group,
            {
                "name": parts[3] if len(parts) > 4 else parts[-2],
                "title": parts[3] if len(parts) > 4 else parts[-2],
                "group": group,
                "tasks": [],
                "triggers": [],
                "conditions": [],
                "taskRunners": [],
            },
        )
        family[doc.kind + "s"].append(doc.summary())
    return [families[k] for k in sorted(families)]


class _Catalog:
    """The built answers of one application, made on first use in a worker thread."""

    def __init__(self, registries: Registries) -> None:
        self.registries = registries
        self.lock = asyncio.Lock()
        self.schemas: dict[tuple[str, bool], _Body] = {}
        self.listing: _Body | None = None
        self.docs: dict[str, _Body] = {}

    async def ready(self) -> None:
        if self.listing is not None:
            return
        async with self.lock:
            if self.listing is None:
                await asyncio.to_thread(self._build)

    def _build(self) -> None:
        registries = self.registries
        schema = flow_schema(registries)
        docs = plugin_docs(registries)
        self.schemas[("flow", False)] = _body(schema)
        for kind in ("task", "trigger"):
            for array in (False, True):
                self.schemas[(kind, array)] = _body(
                    type_schema(registries, kind + "s", array=array)
                )
        self.docs = {doc.type: _body(_doc_json(doc, schema)) for doc in docs}
        self.listing = _body(_families(docs))


def plugin_routes(services: Services, api: ApiRoutes) -> None:
    catalog = _Catalog(services.flows.registries)

    async def get_schema(request: web.Request) -> web.StreamResponse:
        kind = request.match_info["type"].lower()
        if kind not in _SCHEMA_TYPES:
            raise ApiError(404, f"no schema {kind!r}: the schemas are {', '.join(_SCHEMA_TYPES)}")
        array = query_bool(request, "arrayOf") and kind != "flow"
        await catalog.ready()
        return _answer(request, catalog.schemas[(kind, array)])

    async def list_plugins(request: web.Request) -> web.StreamResponse:
        await catalog.ready()
        assert catalog.listing is not None
        return _answer(request, catalog.listing)

    async def get_plugin(request: web.Request) -> web.StreamResponse:
        name = request.match_info["cls"]
        await catalog.ready()
        doc = plugin_doc(catalog.registries, name)
        if doc is None:
            raise ApiError(404, f"no plugin type {name!r}")
        return _answer(request, catalog.docs[doc.type])

    api.get("/plugins", list_plugins)
    api.get("/plugins/schemas/{type}", get_schema)
    api.get("/plugins/{cls}", get_plugin)
