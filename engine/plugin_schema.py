"""The flow format as a JSON Schema, and a documentation page per plugin type.

Both are generated from what loads flows: the pydantic models (`engine.flow.Flow`, every
registered task, trigger and condition class, and the task runners their `taskRunner`
property accepts), so they cannot drift from what the server accepts. The schema is JSON
Schema draft 7, shaped as Kestra's `GET /api/v1/plugins/schemas/flow`: every plugin type
is a definition named by its type, whose `type` property is a `const`, so an editor (the
UI's, or VS Code's YAML extension) can tell which properties a map may have.

What pydantic does not know is read from the plugin's source, once per process:

- descriptions: the class docstring (its first paragraph is the title); a property's
  `Field(description=…)`, its attribute docstring, or the comment beside or above it;
- `$dynamic`: whether the task renders the property as a template when it runs (the code
  passes `self.<property>` to `ctx.render…`, or to a helper with the run context), or its
  type takes a template (`DurationOrTemplate`);
- outputs: the keys of the dicts `run` (and the methods it calls) return.

`flow_schema(registries)` and `plugin_docs(registries)` are cached: the registries are
frozen at start, so the answers are the same for the life of the process.
"""

from __future__ import annotations

import ast
import builtins
import copy
import inspect
import io
import logging
import re
import tokenize
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from engine.flow import NOT_YAML, Flow, Registries
from engine.plugin import Condition, FlowableTask, Model, Task, Trigger

__all__ = ["PluginDoc", "flow_schema", "plugin_doc", "plugin_docs"]

log = logging.getLogger("podium.plugin_schema")

Kind = Literal["task", "trigger", "condition", "taskRunner"]
_DEFS = "#/definitions/"
_UNIONS = {Task: "tasks", FlowableTask: "tasks", Trigger: "triggers", Condition: "conditions"}
_RENDERERS = {"render", "render_text", "evaluate", "is_true", "render_value", "render_map"}
# Task properties the engine renders itself (engine/walk.py), whatever the task's code does.
_ENGINE_RENDERED = frozenset({"runIf", "timeout"})
_PRAGMA = re.compile(r"^\s*(fmt:|type:|noqa|pragma|pyright:|mypy:)")


@dataclass(frozen=True)
class PluginDoc:
    """One plugin type as the documentation pages show it."""

    type: str
    kind: Kind
    cls: builtins.type[BaseModel] = field(repr=False)
    aliases: tuple[str, ...] = ()
    title: str = ""
    description: str = ""
    outputs: tuple[str, ...] = ()
    example: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "cls": self.type,
            "kind": self.kind,
            "title": self.title,
            "aliases": list(self.aliases),
            "deprecated": False,
        }


# ---------------------------------------------------------------------------
# Reading the source: docstrings, comments, templates rendered, outputs returned


@dataclass(frozen=True)
class _Source:
    """One module's source, parsed once: its lines, comments and class definitions."""

    lines: list[str]
    comments: dict[int, str]  # line number (1-based) -> the comment's text
    classes: dict[str, ast.ClassDef]  # qualified name -> definition


@cache
def _module_source(filename: str) -> _Source | None:
    try:
        with open(filename, encoding="utf-8") as handle:
            text = handle.read()
        module = ast.parse(text)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    classes: dict[str, ast.ClassDef] = {}

    def collect(body: list[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                classes[prefix + stmt.name] = stmt
                collect(stmt.body, f"{prefix}{stmt.name}.")

    collect(module.body, "")
    comments: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                comment = tok.string.lstrip("#").strip()
                if comment and not _PRAGMA.match(comment):
                    comments[tok.start[0]] = comment
    except (tokenize.TokenError, IndentationError):
        pass
    return _Source(text.splitlines(), comments, classes)


def _class_tree(cls: type) -> tuple[ast.ClassDef, _Source] | None:
    try:
        filename = inspect.getsourcefile(cls)
    except TypeError:
        return None
    source = _module_source(filename) if filename else None
    if source is None:
        return None
    node = source.classes.get(cls.__qualname__)
    return (node, source) if node is not None else None


@cache
def _own_property_docs(cls: type) -> dict[str, str]:
    """Property name -> its doc, from this class's own body (not its bases)."""
    parsed = _class_tree(cls)
    if parsed is None:
        return {}
    tree, source = parsed
    lines, comments = source.lines, source.comments
    docs: dict[str, str] = {}
    body = tree.body
    for index, stmt in enumerate(body):
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        name = stmt.target.id
        after = body[index + 1] if index + 1 < len(body) else None
        if (
            isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[name] = re.sub(r"(?<!\n)\n(?!\n)", " ", inspect.cleandoc(after.value.value))
            continue
        end = stmt.end_lineno or stmt.lineno
        if end in comments:  # a comment beside the property
            docs[name] = comments[end]
            continue
        above: list[str] = []
        line = stmt.lineno - 1
        while line in comments and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        if above:
            docs[name] = " ".join(above)
    return docs


def property_docs(cls: type) -> dict[str, str]:
    """Every property's doc, a subclass's winning over its bases'."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if isinstance(klass, type) and issubclass(klass, Model) and klass is not Model:
            docs.update(_own_property_docs(klass))
    return docs


def _self_attrs(node: ast.AST) -> set[str]:
    return {
        n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
    }


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _targets(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _function_rendered(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Properties this method renders: `self.x` (or a local computed from it) passed to
    ctx.render…, or to a helper along with the run context."""
    taint: dict[str, set[str]] = {}

    def sources(expr: ast.AST) -> set[str]:
        found = set(_self_attrs(expr))
        for name in _names(expr):
            found |= taint.get(name, set())
        return found

    for _ in range(2):  # locals computed from locals: two passes are enough in practice
        for node in ast.walk(fn):
            pairs: list[tuple[ast.AST, ast.AST]] = []
            if isinstance(node, ast.Assign):
                pairs = [(t, node.value) for t in node.targets]
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                pairs = [(node.target, node.value)]
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                pairs = [(node.target, node.iter)]
            elif isinstance(node, ast.NamedExpr):
                pairs = [(node.target, node.value)]
            for target, value in pairs:
                for name in _targets(target):
                    taint[name] = taint.get(name, set()) | sources(value)
    rendered: set[str] = set()
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        args = [*node.args, *(k.value for k in node.keywords)]
        with_ctx = any(isinstance(a, ast.Name) and a.id == "ctx" for a in args)
        if name in _RENDERERS or with_ctx:
            for arg in args:
                rendered |= sources(arg)
    return rendered


def _returned_keys(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """String keys of the dicts this method returns (directly or through a local)."""
    dicts: dict[str, set[str]] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if len(targets) != 1:
                continue
            target = targets[0]
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Dict):
                dicts.setdefault(target.id, set()).update(_dict_keys(node.value))
            elif (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and isinstance(target.slice, ast.Constant)
                and isinstance(target.slice.value, str)
            ):
                dicts.setdefault(target.value.id, set()).add(target.slice.value)
    keys: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Dict):
                keys |= _dict_keys(value)
                for spread in (
                    v for k, v in zip(value.keys, value.values, strict=True) if k is None
                ):
                    if isinstance(spread, ast.Name):
                        keys |= dicts.get(spread.id, set())
            elif isinstance(value, ast.Name):
                keys |= dicts.get(value.id, set())
            elif (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "dict"
            ):
                keys |= {k.arg for k in value.keywords if k.arg}
    return keys


def _dict_keys(node: ast.Dict) -> set[str]:
    return {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}


def _methods(cls: type) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for klass in cls.__mro__:
        if klass in (Task, FlowableTask, Trigger, Condition, Model, BaseModel, object):
            continue
        parsed = _class_tree(klass)
        if parsed is None:
            continue
        for stmt in parsed[0].body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                yield stmt


def _rendered_properties(cls: type) -> set[str]:
    found: set[str] = set()
    for fn in _methods(cls):
        found |= _function_rendered(fn)
    return found


def _outputs(cls: type) -> tuple[str, ...]:
    keys: set[str] = set()
    for fn in _methods(cls):
        if fn.name.startswith("_") or fn.name in ("run", "execute"):
            keys |= _returned_keys(fn)
    return tuple(sorted(keys))


# ---------------------------------------------------------------------------
# The JSON Schema


class _FlowSchemaGenerator(GenerateJsonSchema):
    """Task, Trigger and Condition, where a model holds them (child tasks, a trigger's
    conditions), become a reference to the union of every registered type of that kind."""

    def model_schema(self, schema: Any) -> Any:
        union = _UNIONS.get(schema.get("cls"))
        if union is not None:
            return {"$ref": _DEFS + union}
        return super().model_schema(schema)


def _runner_classes(classes: Iterable[type]) -> list[type[BaseModel]]:
    """Task runner models (`taskRunner: Process | Docker`), found in the task classes."""
    found: dict[str, type[BaseModel]] = {}
    for cls in classes:
        info = getattr(cls, "model_fields", {}).get("taskRunner")
        if info is None:
            continue
        for member in _flatten(info.annotation):
            if isinstance(member, type) and issubclass(member, BaseModel):
                name = _literal_type(member)
                if name:
                    found[name] = member
    return [found[k] for k in sorted(found)]


def _flatten(annotation: Any) -> Iterator[Any]:
    args = get_args(annotation)
    if get_origin(annotation) is not None and args:
        for arg in args:
            yield from _flatten(arg)
    else:
        yield annotation


def _literal_type(model: type[BaseModel]) -> str | None:
    info = model.model_fields.get("type")
    if info is None:
        return None
    values = get_args(info.annotation)
    return values[0] if len(values) == 1 and isinstance(values[0], str) else None


def _is_template_type(info: Any) -> bool:
    for meta in getattr(info, "metadata", ()):
        fn = getattr(meta, "func", None)
        if fn is not None and "template" in getattr(fn, "__name__", ""):
            return True
    return any(
        "template" in getattr(getattr(m, "func", None), "__name__", "")
        for arg in get_args(info.annotation)
        for m in getattr(arg, "__metadata__", ())
    )


@dataclass
class _Entry:
    type: str
    kind: Kind
    cls: builtins.type[BaseModel]
    aliases: tuple[str, ...]


def _entries(registries: Registries) -> list[_Entry]:
    entries: list[_Entry] = []
    for kind, registry in (
        ("task", registries.tasks),
        ("trigger", registries.triggers),
        ("condition", registries.conditions),
    ):
        by_class: dict[type, list[str]] = {}
        for name, cls in registry:
            by_class.setdefault(cls, []).append(name)
        for cls, names in by_class.items():
            main = getattr(cls, "type_name", "") or names[0]
            aliases = tuple(n for n in names if n != main)
            entries.append(_Entry(main, kind, cls, aliases))  # type: ignore[arg-type]
    task_classes = [e.cls for e in entries if e.kind == "task"]
    for runner in _runner_classes(task_classes):
        runner_name = _literal_type(runner)
        assert runner_name is not None
        entries.append(_Entry(runner_name, "taskRunner", runner, ()))
    entries.sort(key=lambda e: (e.kind, e.type))
    return entries


def _split_doc(doc: str | None) -> tuple[str, str]:
    text = inspect.cleandoc(doc or "")
    if not text:
        return "", ""
    first = text.split("\n\n", 1)[0].replace("\n", " ").strip()
    return first, text


def _class_doc(cls: type) -> str | None:
    doc = cls.__dict__.get("__doc__")
    return doc if isinstance(doc, str) else None


def _tidy(node: Any) -> Any:
    """Drop pydantic's generated titles ("Maxattempts"): our descriptions say more."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                continue
            out[key] = (
                _tidy(value) if key not in ("default", "const", "enum", "examples") else value
            )
        return out
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    return node


def _rename_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                _DEFS + renames.get(v[len(_DEFS) :], v[len(_DEFS) :])
                if k == "$ref" and isinstance(v, str) and v.startswith(_DEFS)
                else _rename_refs(v, renames)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rename_refs(v, renames) for v in node]
    return node


def _decorate(entry: _Entry, schema: dict[str, Any]) -> dict[str, Any]:
    """A plugin's definition: `type` as its const, descriptions, `$dynamic`."""
    cls = entry.cls
    title, description = _split_doc(_class_doc(cls))
    docs = property_docs(cls)
    rendered = _rendered_properties(cls) if entry.kind != "taskRunner" else set()
    if entry.kind == "task":
        rendered |= _ENGINE_RENDERED
    properties: dict[str, Any] = schema.get("properties", {})
    for name, info in cls.model_fields.items():
        key = info.alias or name
        prop = properties.get(key)
        if prop is None:
            continue
        doc = info.description or docs.get(name)
        if doc and "description" not in prop:
            prop["description"] = doc
        if key not in ("id", "type"):
            prop["$dynamic"] = name in rendered or key in rendered or _is_template_type(info)
    properties["type"] = {"const": entry.type, "description": f"The {entry.kind} type."}
    out: dict[str, Any] = {"type": "object"}
    if title:
        out["title"] = title
    if description:
        out["description"] = description
    out["properties"] = properties
    out["required"] = sorted({*schema.get("required", []), "type"})
    out["additionalProperties"] = False
    return out


@dataclass(frozen=True)
class _Built:
    schema: dict[str, Any]
    docs: dict[str, PluginDoc]
    by_alias: dict[str, str]


@cache
def _build(registries: Registries) -> _Built:
    entries = _entries(registries)
    models: list[type[BaseModel]] = [Flow, *(e.cls for e in entries)]
    key_map, top = models_json_schema(
        [(m, "validation") for m in models],
        by_alias=True,
        ref_template=_DEFS + "{model}",
        schema_generator=_FlowSchemaGenerator,
    )
    defs: dict[str, Any] = top.get("$defs", {})
    ref_of = {
        cls: value["$ref"][len(_DEFS) :]
        for (cls, _mode), value in key_map.items()
        if "$ref" in value
    }
    renames = {ref_of[e.cls]: e.type for e in entries if e.cls in ref_of}
    renames[ref_of[Flow]] = "io.kestra.core.models.flows.Flow"
    definitions: dict[str, Any] = {}
    for name, schema in defs.items():
        definitions[renames.get(name, name)] = schema
    # what only points elsewhere (Task -> tasks) is replaced by where it points
    for name, schema in list(definitions.items()):
        ref = schema.get("$ref") if len(schema) == 1 else None
        if isinstance(ref, str) and ref.startswith(_DEFS):
            renames[name] = ref[len(_DEFS) :]
            del definitions[name]
    definitions = _rename_refs(definitions, renames)
    for entry in entries:
        definitions[entry.type] = _decorate(entry, definitions[entry.type])
        for alias in entry.aliases:
            copy_ = copy.deepcopy(definitions[entry.type])
            copy_["properties"]["type"] = {
                "const": alias,
                "description": f"The former name of {entry.type}.",
            }
            copy_["deprecated"] = True
            definitions[alias] = copy_
    unions: dict[str, list[str]] = {"tasks": [], "triggers": [], "conditions": []}
    for entry in entries:
        if entry.kind != "taskRunner":
            unions[entry.kind + "s"] += [entry.type, *entry.aliases]
    for union, names in unions.items():
        definitions[union] = {"anyOf": [{"$ref": _DEFS + n} for n in sorted(names)]}
    flow = definitions["io.kestra.core.models.flows.Flow"]
    for internal in NOT_YAML:  # set by loading
        flow["properties"].pop(internal, None)
    flow["title"] = "A Kestra flow, as Podium loads it"
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$ref": _DEFS + "io.kestra.core.models.flows.Flow",
        "definitions": _tidy(dict(sorted(definitions.items()))),
    }
    # _tidy dropped the titles we set on purpose: put plugins' and the flow's back
    for entry in entries:
        title, _ = _split_doc(_class_doc(entry.cls))
        if title:
            schema["definitions"][entry.type]["title"] = title
    schema["definitions"]["io.kestra.core.models.flows.Flow"]["title"] = flow["title"]
    docs: dict[str, PluginDoc] = {}
    by_alias: dict[str, str] = {}
    for entry in entries:
        title, description = _split_doc(_class_doc(entry.cls))
        docs[entry.type] = PluginDoc(
            type=entry.type,
            kind=entry.kind,
            cls=entry.cls,
            aliases=entry.aliases,
            title=title,
            description=description,
            outputs=_outputs(entry.cls) if entry.kind == "task" else (),
            example=_example(entry, schema["definitions"][entry.type], schema["definitions"]),
        )
        for alias in entry.aliases:
            by_alias[alias] = entry.type
    return _Built(schema, docs, by_alias)


def flow_schema(registries: Registries) -> dict[str, Any]:
    """The JSON Schema (draft 7) of a flow, with every registered plugin type."""
    return _build(registries).schema


def plugin_docs(registries: Registries) -> list[PluginDoc]:
    """Every plugin type (tasks, triggers, conditions, task runners), by kind then type."""
    return list(_build(registries).docs.values())


def plugin_doc(registries: Registries, type_name: str) -> PluginDoc | None:
    """One type's doc, by its name or one of its former names."""
    built = _build(registries)
    return built.docs.get(type_name) or built.docs.get(built.by_alias.get(type_name, ""))


def type_schema(registries: Registries, kind: str, *, array: bool = False) -> dict[str, Any]:
    """The schema of one task or trigger (Kestra's schemas/task, schemas/trigger)."""
    built = _build(registries).schema
    root: dict[str, Any] = {"$ref": _DEFS + kind}
    if array:
        root = {"type": "array", "items": root}
    return {"$schema": built["$schema"], **root, "definitions": built["definitions"]}


# ---------------------------------------------------------------------------
# Examples: the required properties, with a value of the right kind


def _resolve(prop: Mapping[str, Any], definitions: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS):
        return definitions.get(ref[len(_DEFS) :], {})
    for branch in prop.get("anyOf", ()):
        if branch.get("type") != "null":
            return _resolve(branch, definitions)
    return prop


def _sample(name: str, prop: Mapping[str, Any], definitions: Mapping[str, Any]) -> Any:
    target = _resolve(prop, definitions)
    if prop.get("$ref") == _DEFS + "tasks" or "anyOf" in target and name in (
        "tasks", "then", "else", "errors", "finally",
    ):  # fmt: skip
        return [{"id": "log", "type": "io.kestra.plugin.core.log.Log", "message": "Hello"}]
    if "const" in target:
        return target["const"]
    if "enum" in target:
        return target["enum"][0]
    kind = target.get("type")
    if target.get("format") == "duration":
        return "PT1M"
    if kind == "integer":
        return max(1, int(target.get("minimum", 1)))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if kind == "array":
        item = target.get("items", {})
        return [_sample(name, item, definitions)] if item else []
    if kind == "object" and "properties" in target:
        required = target.get("required", [])
        return {
            key: _sample(key, target["properties"][key], definitions)
            for key in required
            if key in target["properties"]
        }
    if kind == "object":
        return {"key": "value"}
    if name == "cron":
        return "@daily"
    if name.lower().endswith("url"):
        return "https://example.com"
    return f"<{name}>"


def _example(entry: _Entry, definition: Mapping[str, Any], definitions: Mapping[str, Any]) -> str:
    import yaml

    props = definition.get("properties", {})
    short = entry.type.rsplit(".", 1)[-1]
    body: dict[str, Any] = {}
    if "id" in props:
        body["id"] = re.sub(r"(?<!^)(?=[A-Z])", "_", short).lower()
    body["type"] = entry.type
    for key in definition.get("required", []):
        if key not in ("id", "type") and key in props:
            body[key] = _sample(key, props[key], definitions)
    return yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=88)
