"""The API as an OpenAPI 3.1 document, served at /api/v1/openapi.json.

Written by hand from the same contract as docs/api.md (a generated document would only
repeat the router); tests/web/test_openapi.py checks that every route the server has is
documented here and every documented path is routed. Paths are listed once under
`/api/v1`; each is served under the tenant form `/api/v1/main` too. The UI's static
files (/, /ui/...) are not part of the API and are left out.
"""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "an error")
_ERRORS = {"400": _ERROR, "401": _ERROR, "404": _ERROR}


def _param(
    name: str, where: str = "query", kind: str = "string", *, many: bool = False
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if many:
        schema = {"type": "array", "items": schema}
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        **({"style": "form", "explode": True} if many else {}),
    }


def _op(
    summary: str,
    tag: str,
    ok: dict[str, Any],
    *,
    params: tuple[dict[str, Any], ...] = (),
    body: dict[str, Any] | None = None,
    public: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "responses": {**ok, **_ERRORS, **(extra or {})},
    }
    if params:
        operation["parameters"] = list(params)
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    if public:
        operation["security"] = []
    return operation


def _path(*names: str) -> tuple[dict[str, Any], ...]:
    return tuple(_param(n, "path") for n in names)


_PAGE = (_param("page", kind="integer"), _param("size", kind="integer"))
_LOG_FILTERS = (
    _param("minLevel"),
    _param("taskRunId"),
    _param("taskId"),
    _param("attempt", kind="integer"),
)
_YAML = {"application/x-yaml": {"schema": {"type": "string"}}}
_NO_CONTENT = {"204": {"description": "done"}}
_SSE = {"200": {"description": "server-sent events", "content": {"text/event-stream": {}}}}
_FLOW = _path("namespace", "id")
_EXECUTION = _path("executionId")
_TRIGGER = _path("namespace", "flowId", "triggerId")
_OBJECT: dict[str, Any] = {"type": "object"}
_ZIP = {"200": {"description": "a zip of YAML files", "content": {"application/octet-stream": {}}}}


def _paths() -> dict[str, dict[str, Any]]:
    ok = _json(_OBJECT)
    execution = {"200": _json(_ref("Execution"))}
    flow = {"200": _json(_ref("Flow"))}
    trigger = {"200": _json(_ref("Trigger"))}
    webhook = _op(
        "Start an execution from a webhook trigger (its key authenticates the call)",
        "Executions",
        {"200": _json(_OBJECT)},
        params=_path("namespace", "flowId", "key"),
        public=True,
        extra={"413": _ERROR, "429": _ERROR},
    )
    return {
        "/health": {"get": _op("Liveness and a report of each role", "Operations", {"200": ok}, public=True)},
        "/health/ready": {
            "get": _op("200 once every role of this process is ready, else 503", "Operations",
                       {"200": ok, "503": ok}, public=True)
        },
        "/metrics": {
            "get": _op("Prometheus metrics (text format)", "Operations",
                       {"200": {"description": "metrics", "content": {"text/plain": {}}}}, public=True)
        },
        "/api/v1/openapi.json": {"get": _op("This document", "Operations", {"200": ok})},
        "/api/v1/auth/login": {
            "post": _op("Open a UI session (sets podium_session and podium_csrf cookies)", "Auth",
                        {"200": _json(_ref("User"))}, public=True,
                        body={"application/json": {"schema": {"type": "object", "required": ["username", "password"],
                              "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}})
        },
        "/api/v1/auth/logout": {"post": _op("End the session", "Auth", _NO_CONTENT)},
        "/api/v1/auth/me": {"get": _op("Who is calling", "Auth", {"200": _json(_ref("User"))})},
        "/api/v1/auth/session": {
            "get": _op("Is this browser signed in? (always 200: {authEnabled, username or null})", "Auth",
                       {"200": _json(_OBJECT)}, public=True)
        },
        "/api/v1/flows": {
            "get": _op("Every current flow (namespace, id, revision)", "Flows", {"200": _json({"type": "array", "items": _OBJECT})}),
            "post": _op("Create a flow from YAML", "Flows", flow, body=_YAML,
                        extra={"409": _ERROR, "413": _ERROR, "422": _json(_ref("Invalid"))}),
        },
        "/api/v1/flows/search": {
            "get": _op("Search flows", "Flows", {"200": _json(_ref("FlowPage"))},
                       params=(_param("q"), _param("namespace"), *_PAGE))
        },
        "/api/v1/flows/namespaces": {
            "get": _op("Namespaces that have flows", "Flows", {"200": _json({"type": "array", "items": {"type": "string"}})})
        },
        "/api/v1/flows/validate": {
            "post": _op("Validate flows (YAML documents separated by ---)", "Flows",
                        {"200": _json({"type": "array", "items": _ref("Validation")})}, body=_YAML)
        },
        "/api/v1/flows/import": {
            "post": _op("Import flows: one YAML, a multi-document YAML or a zip of YAML files in the multipart field fileUpload; all or nothing",
                        "Flows", {"200": _json({"type": "array", "items": {"type": "string"}})},
                        body={"multipart/form-data": {"schema": {"type": "object", "required": ["fileUpload"],
                              "properties": {"fileUpload": {"type": "string", "format": "binary"}}}}},
                        extra={"400": _ERROR, "413": _ERROR, "415": _ERROR, "422": _json(_ref("Invalid"))})
        },
        "/api/v1/flows/export/by-query": {
            "get": _op("A zip of the flows matching the query", "Flows", _ZIP,
                       params=(_param("q"), _param("namespace")), extra={"400": _ERROR, "413": _ERROR})
        },
        "/api/v1/flows/export/by-ids": {
            "post": _op("A zip of the flows named", "Flows", _ZIP,
                        body={"application/json": {"schema": {"type": "array", "items": _OBJECT}}},
                        extra={"400": _ERROR, "404": _ERROR, "413": _ERROR})
        },
        "/api/v1/flows/{namespace}": {
            "get": _op("The flows of a namespace", "Flows", {"200": _json({"type": "array", "items": _ref("Flow")})},
                       params=_path("namespace"))
        },
        "/api/v1/flows/{namespace}/{id}": {
            "get": _op("A flow", "Flows", flow, params=(*_FLOW, _param("source", kind="boolean"), _param("revision", kind="integer"))),
            "put": _op("Update a flow (a new revision)", "Flows", flow, params=_FLOW, body=_YAML,
                       extra={"413": _ERROR, "422": _json(_ref("Invalid"))}),
            "delete": _op("Delete a flow", "Flows", _NO_CONTENT, params=_FLOW),
        },
        "/api/v1/flows/{namespace}/{id}/revisions": {
            "get": _op("Every revision, oldest first", "Flows", {"200": _json({"type": "array", "items": _OBJECT})}, params=_FLOW)
        },
        "/api/v1/flows/{namespace}/{id}/graph": {
            "get": _op("The task tree", "Flows", {"200": _json(_ref("Graph"))}, params=(*_FLOW, _param("revision", kind="integer")))
        },
        "/api/v1/flows/graph": {
            "post": _op("The task tree of a flow sent as YAML (not saved): the editor's live topology", "Flows",
                        {"200": _json(_ref("Graph"))}, body=_YAML, extra={"413": _ERROR, "422": _json(_ref("Invalid"))})
        },
        "/api/v1/executions/search": {
            "get": _op("Search executions", "Executions", {"200": _json(_ref("ExecutionPage"))},
                       params=(*_FILTERS, _param("sort"), *_PAGE))
        },
        "/api/v1/executions/{namespace}/{flowId}": {
            "post": _op("Execute a flow (inputs as form fields, files as parts, or a JSON object)",
                        "Executions", execution,
                        params=(*_path("namespace", "flowId"), _param("labels", many=True),
                                _param("wait", kind="boolean"), _param("revision", kind="integer")),
                        body={"multipart/form-data": {"schema": _OBJECT}, "application/json": {"schema": _OBJECT}},
                        extra={"413": _ERROR, "415": _ERROR, "422": _ERROR})
        },
        "/api/v1/executions/trigger/{namespace}/{flowId}": {
            "post": _op("Execute a flow (Kestra 0.x's path; the same as above)", "Executions", execution,
                        params=(*_path("namespace", "flowId"), _param("labels", many=True), _param("wait", kind="boolean")),
                        body={"multipart/form-data": {"schema": _OBJECT}, "application/json": {"schema": _OBJECT}},
                        extra={"413": _ERROR, "415": _ERROR, "422": _ERROR})
        },
        "/api/v1/executions/{executionId}": {"get": _op("An execution with its task runs", "Executions", execution, params=_EXECUTION),
                                              "delete": _DELETE_EXECUTION},
        "/api/v1/executions/{executionId}/kill": {
            "delete": _op("Kill a running execution", "Executions", {"202": {"description": "accepted"}},
                          params=_EXECUTION, extra={"409": _ERROR})
        },
        "/api/v1/executions/{executionId}/resume": {
            "post": _op("Resume a paused execution", "Executions", _NO_CONTENT, params=_EXECUTION, extra={"409": _ERROR})
        },
        "/api/v1/executions/{executionId}/restart": {
            "post": _op("Run the failed task runs again (same execution)", "Executions", execution,
                        params=_EXECUTION, extra={"409": _ERROR})
        },
        "/api/v1/executions/{executionId}/replay": {
            "post": _op("Run the execution again as a new one, from a task run if given", "Executions", execution,
                        params=(*_EXECUTION, _param("taskRunId")), extra={"409": _ERROR})
        },
        "/api/v1/executions/{executionId}/labels": {
            "post": _op("Set the execution's labels", "Executions", execution, params=_EXECUTION,
                        body={"application/json": {"schema": {"type": "array", "items": _ref("Label")}}})
        },
        "/api/v1/executions/{executionId}/follow": {
            "get": _op("Follow an execution (each event: the Execution after a change)", "Executions", _SSE, params=_EXECUTION)
        },
        "/api/v1/executions/{executionId}/file": {
            "get": _op("Download a file of the execution", "Executions",
                       {"200": {"description": "the file", "content": {"application/octet-stream": {}}}},
                       params=(*_EXECUTION, _param("path")))
        },
        "/api/v1/executions/{executionId}/file/preview": {
            "get": _op("The first rows of a file of the execution", "Executions", {"200": _json(_ref("Preview"))},
                       params=(*_EXECUTION, _param("path")))
        },
        "/api/v1/executions/webhook/{namespace}/{flowId}/{key}": {"get": webhook, "post": webhook, "put": webhook},
        "/api/v1/logs/search": {
            "get": _op("Search logs", "Logs", {"200": _json(_ref("LogPage"))},
                       params=(_param("executionId"), _param("namespace"), _param("flowId"), *_LOG_FILTERS, _param("q"),
                               _param("startDate"), _param("endDate"), _param("sort"), *_PAGE))
        },
        "/api/v1/logs/{executionId}": {
            "get": _op("An execution's logs", "Logs", {"200": _json({"type": "array", "items": _ref("LogEntry")})},
                       params=(*_EXECUTION, *_LOG_FILTERS, *_PAGE))
        },
        "/api/v1/logs/{executionId}/download": {
            "get": _op("An execution's logs as text", "Logs",
                       {"200": {"description": "one line per entry", "content": {"text/plain": {}}}},
                       params=(*_EXECUTION, *_LOG_FILTERS, _param("q")))
        },
        "/api/v1/logs/{executionId}/follow": {
            "get": _op("Follow an execution's logs (each event: a LogEntry)", "Logs", _SSE, params=(*_EXECUTION, *_LOG_FILTERS))
        },
        "/api/v1/triggers/search": {
            "get": _op("Triggers with their state", "Triggers", {"200": _json(_OBJECT)},
                       params=(_param("namespace"), _param("flowId"), *_PAGE))
        },
        "/api/v1/triggers/{namespace}/{flowId}/{triggerId}": {
            "put": _op("Disable or enable a trigger", "Triggers", trigger, params=_TRIGGER,
                       body={"application/json": {"schema": {"type": "object", "properties": {"disabled": {"type": "boolean"}}}}})
        },
        "/api/v1/triggers/{namespace}/{flowId}/{triggerId}/backfill": {
            "post": _op("Backfill a schedule over a past range", "Triggers", trigger, params=_TRIGGER,
                        body={"application/json": {"schema": {"type": "object", "required": ["start"], "properties": {
                            "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
                            "inputs": _OBJECT, "labels": _OBJECT}}}},
                        extra={"409": _ERROR, "503": _ERROR})
        },
        "/api/v1/stats/executions": {
            "get": _op("Executions per time bucket and state, running now, failing flows", "Dashboard",
                       {"200": _json(_OBJECT)},
                       params=(_param("startDate"), _param("endDate"), _param("interval")))
        },
        "/api/v1/plugins": {
            "get": _op("The plugin families, each listing its task, trigger, condition and task runner types", "Plugins",
                       {"200": _json({"type": "array", "items": _OBJECT})})
        },
        "/api/v1/plugins/schemas/{type}": {
            "get": _op("JSON Schema (draft 7) of a flow, a task or a trigger (type = flow, task, trigger)", "Plugins",
                       {"200": _json(_OBJECT)}, params=(*_path("type"), _param("arrayOf", kind="boolean")))
        },
        "/api/v1/plugins/{cls}": {
            "get": _op("One plugin type's documentation: markdown, its schema, outputs and an example", "Plugins",
                       {"200": _json(_OBJECT)}, params=_path("cls"))
        },
        **_kv_paths(),
        **_execution_admin_paths(),
    }  # fmt: skip


_FILTERS = (
    _param("q"), _param("namespace"), _param("flowId"), _param("state", many=True),
    _param("labels", many=True), _param("startDate"), _param("endDate"), _param("timeRange"),
    _param("triggerExecutionId"), _param("childFilter"), _param("scope", many=True),
    {"name": "filters", "in": "query", "required": False, "style": "deepObject", "explode": True,
     "schema": _OBJECT, "description": "Kestra 1.x: filters[FIELD][OPERATION]=value"},
)  # fmt: skip


def _execution_admin_paths() -> dict[str, dict[str, Any]]:
    """Bulk actions (engine/web/api/bulk.py), one-execution commands (execution_commands.py),
    file metas and task-run metrics (metrics.py)."""
    execution = {"200": _json(_ref("Execution"))}
    bulk = {"200": _json(_ref("BulkResponse"))}
    bulk_error = {"400": _json(_ref("BulkError"), "some executions cannot be acted on: none was")}
    ids = {"application/json": {"schema": {"type": "array", "items": {"type": "string"}}}}
    labels = {"application/json": {"schema": {"type": "array", "items": _ref("Label")}}}
    deletion = (
        _param("deleteLogs", kind="boolean"),
        _param("deleteMetrics", kind="boolean"),
        _param("deleteStorage", kind="boolean"),
    )
    paths: dict[str, dict[str, Any]] = {}
    for method, name, what, extra in (
        ("delete", "kill", "Kill executions", ()),
        ("post", "restart", "Restart failed or killed executions", ()),
        ("post", "replay", "Replay ended executions (new executions)", ()),
        ("post", "unqueue", "Take queued executions out of their queue", (_param("state"),)),
        ("post", "force-run", "Start queued or waiting executions now", ()),
        ("post", "change-status", "Change ended executions' state", (_param("newStatus"),)),
    ):
        paths[f"/api/v1/executions/{name}/by-ids"] = {
            method: _op(
                f"{what}, by ids (all or nothing)",
                "Executions",
                bulk,
                params=extra,
                body=ids,
                extra=bulk_error,
            )
        }
        paths[f"/api/v1/executions/{name}/by-query"] = {
            method: _op(
                f"{what} that a search matches (all or nothing)",
                "Executions",
                bulk,
                params=(*_FILTERS, *extra),
                extra=bulk_error,
            )
        }
    paths["/api/v1/executions/labels/by-ids"] = {
        "post": _op(
            "Set labels on executions, by ids",
            "Executions",
            bulk,
            extra=bulk_error,
            body={
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "executionsId": {"type": "array", "items": {"type": "string"}},
                            "executionLabels": {"type": "array", "items": _ref("Label")},
                        },
                    }
                }
            },
        )
    }
    paths["/api/v1/executions/labels/by-query"] = {
        "post": _op(
            "Set labels on the executions a search matches",
            "Executions",
            bulk,
            params=_FILTERS,
            body=labels,
            extra=bulk_error,
        )
    }
    paths["/api/v1/executions/by-ids"] = {
        "delete": _op(
            "Delete executions with their logs, metrics and files, by ids",
            "Executions",
            bulk,
            params=(_param("includeNonTerminated", kind="boolean"), *deletion),
            body=ids,
            extra=bulk_error,
        )
    }
    paths["/api/v1/executions/by-query"] = {
        "delete": _op(
            "Delete the executions a search matches",
            "Executions",
            bulk,
            params=(*_FILTERS, _param("includeNonTerminated", kind="boolean"), *deletion),
            extra=bulk_error,
        )
    }
    paths["/api/v1/executions/{executionId}/change-status"] = {
        "post": _op(
            "Change an ended execution's state to another terminal state",
            "Executions",
            execution,
            params=(*_EXECUTION, _param("status")),
            extra={"409": _ERROR},
        )
    }
    paths["/api/v1/executions/{executionId}/unqueue"] = {
        "post": _op(
            "Take a queued execution out of its queue: RUNNING, CANCELLED or FAILED",
            "Executions",
            execution,
            params=(*_EXECUTION, _param("state")),
            extra={"409": _ERROR},
        )
    }
    paths["/api/v1/executions/{executionId}/force-run"] = {
        "post": _op(
            "Start a queued or waiting execution now",
            "Executions",
            execution,
            params=_EXECUTION,
            extra={"409": _ERROR},
        )
    }
    paths["/api/v1/executions/{executionId}/state"] = {
        "post": _op(
            "Give a task run of an ended execution another state (SUCCESS, WARNING, "
            "FAILED) and go on from there",
            "Executions",
            execution,
            params=_EXECUTION,
            body={
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "taskRunId": {"type": "string"},
                            "state": {"type": "string"},
                        },
                    }
                }
            },
            extra={"409": _ERROR},
        )
    }
    paths["/api/v1/executions/{executionId}/eval/{taskRunId}"] = {
        "post": _op(
            "Evaluate an expression in an ended task run's context (no secrets)",
            "Executions",
            {"200": _json(_ref("EvalResult"))},
            params=_path("executionId", "taskRunId"),
            body={"text/plain": {"schema": {"type": "string"}}},
            extra={"413": _ERROR},
        )
    }
    paths["/api/v1/executions/{executionId}/file/metas"] = {
        "get": _op(
            "The size of a file of the execution",
            "Executions",
            {"200": _json(_ref("FileMetas"))},
            params=(*_EXECUTION, _param("path")),
        )
    }
    metric_names = {"200": _json({"type": "array", "items": {"type": "string"}})}
    aggregate = (_param("startDate"), _param("endDate"), _param("aggregation"))
    paths["/api/v1/metrics/{executionId}"] = {
        "get": _op(
            "An execution's task-run metrics",
            "Metrics",
            {"200": _json(_ref("MetricPage"))},
            params=(*_EXECUTION, _param("taskRunId"), _param("taskId"), *_PAGE),
        )
    }
    paths["/api/v1/metrics/names/{namespace}/{flowId}"] = {
        "get": _op(
            "The metric names of a flow",
            "Metrics",
            metric_names,
            params=_path("namespace", "flowId"),
        )
    }
    paths["/api/v1/metrics/names/{namespace}/{flowId}/{taskId}"] = {
        "get": _op(
            "The metric names of a task",
            "Metrics",
            metric_names,
            params=_path("namespace", "flowId", "taskId"),
        )
    }
    paths["/api/v1/metrics/tasks/{namespace}/{flowId}"] = {
        "get": _op(
            "The tasks of a flow that emitted metrics",
            "Metrics",
            metric_names,
            params=_path("namespace", "flowId"),
        )
    }
    paths["/api/v1/metrics/aggregates/{namespace}/{flowId}/{metric}"] = {
        "get": _op(
            "One metric of a flow over time",
            "Metrics",
            {"200": _json(_ref("MetricAggregations"))},
            params=(*_path("namespace", "flowId", "metric"), *aggregate),
        )
    }
    paths["/api/v1/metrics/aggregates/{namespace}/{flowId}/{taskId}/{metric}"] = {
        "get": _op(
            "One metric of a task over time",
            "Metrics",
            {"200": _json(_ref("MetricAggregations"))},
            params=(*_path("namespace", "flowId", "taskId", "metric"), *aggregate),
        )
    }
    return paths


_DELETE_EXECUTION = _op(
    "Delete an execution with its logs, metrics and files", "Executions", _NO_CONTENT,
    params=(*_EXECUTION, _param("deleteLogs", kind="boolean"),
            _param("deleteMetrics", kind="boolean"), _param("deleteStorage", kind="boolean")),
)  # fmt: skip


def _kv_paths() -> dict[str, dict[str, Any]]:
    entries = {"200": _json({"type": "array", "items": _ref("KVEntry")})}
    key = _path("namespace", "key")
    return {
        "/api/v1/kv": {
            "get": _op("KV entries of every namespace, a page at a time", "KV",
                       {"200": _json({"type": "object", "properties": {
                           "results": {"type": "array", "items": _ref("KVEntry")},
                           "total": {"type": "integer"}}})},
                       params=(*_PAGE, _param("sort", many=True),
                               _param("filters[namespace][EQUALS]"), _param("filters[namespace][PREFIX]"),
                               _param("filters[q][EQUALS]")))
        },
        "/api/v1/namespaces/{namespace}/kv": {
            "get": _op("The live KV entries of a namespace", "KV", entries, params=_path("namespace")),
            "delete": _op("Delete several keys", "KV",
                          {"200": _json({"type": "object", "properties": {"keys": {"type": "array"}}})},
                          params=_path("namespace"),
                          body={"application/json": {"schema": {"type": "object", "properties": {
                              "keys": {"type": "array", "items": {"type": "string"}}}}}}),
        },
        "/api/v1/namespaces/{namespace}/kv/inheritance": {
            "get": _op("The KV entries of a namespace and of its parents", "KV", entries,
                       params=_path("namespace"))
        },
        "/api/v1/namespaces/{namespace}/kv/{key}": {
            "get": _op("A key's typed value", "KV", {"200": _json({"type": "object", "properties": {
                "type": {"type": "string"}, "value": {}, "revision": {"type": "integer"},
                "updated": {"type": "string"}}})}, params=key, extra={"410": _ERROR}),
            "put": _op("Set a key: the body is the value (JSON or text); headers ttl, description",
                       "KV", {"200": {"description": "stored"}}, params=key,
                       body={"text/plain": {"schema": {"type": "string"}},
                             "application/json": {"schema": {}}}, extra={"409": _ERROR}),
            "delete": _op("Delete a key (false when there was none)", "KV",
                          {"200": _json({"type": "boolean"})}, params=key),
        },
        **_namespace_file_paths(),
    }  # fmt: skip


def _namespace_file_paths() -> dict[str, Any]:
    base = "/api/v1/namespaces/{namespace}/files"
    ns, path, tag = _path("namespace"), _param("path"), "Namespace files"
    octets = {"200": {"description": "the bytes", "content": {"application/octet-stream": {}}}}
    done = {"200": {"description": "done"}}
    attributes = _json(_OBJECT)
    upload = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"fileContent": {"type": "string", "format": "binary"}},
            }
        }
    }
    return {
        base: {
            "get": _op("A namespace file's bytes", tag, octets,
                       params=(*ns, path, _param("revision", kind="integer"))),
            "post": _op("Upload a file (a .zip is unpacked)", tag, done, params=(*ns, path),
                        body=upload, extra={"409": _ERROR, "413": _ERROR}),
            "put": _op("Move a file or folder", tag, done,
                       params=(*ns, _param("from"), _param("to")), extra={"409": _ERROR}),
            "delete": _op("Delete a file or folder", tag, done, params=(*ns, path)),
        },
        base + "/directory": {
            "get": _op("A folder's children (FileAttributes)", tag,
                       {"200": _json({"type": "array", "items": _OBJECT})}, params=(*ns, path)),
            "post": _op("Create a folder", tag, done, params=(*ns, path)),
        },
        base + "/stats": {"get": _op("One FileAttributes", tag, {"200": attributes},
                                     params=(*ns, path))},
        base + "/revisions": {"get": _op("A file's revisions", tag,
                                         {"200": _json({"type": "array", "items": _OBJECT})},
                                         params=(*ns, path))},
        base + "/search": {"get": _op("Paths containing q", tag,
                                      {"200": _json({"type": "array", "items": {"type": "string"}})},
                                      params=(*ns, _param("q")))},
        base + "/export": {"get": _op("Every file as a zip", tag, octets, params=ns)},
    }  # fmt: skip


def _schemas() -> dict[str, Any]:
    string, nullable = {"type": "string"}, {"type": ["string", "null"]}
    state = {
        "type": "object",
        "properties": {
            "current": string,
            "startDate": nullable,
            "endDate": nullable,
            "duration": {"type": ["number", "null"]},
            "histories": {
                "type": "array",
                "items": {"type": "object", "properties": {"state": string, "date": string}},
            },
        },
    }
    node: dict[str, Any] = {
        "type": "object",
        "properties": {
            "id": string, "type": string, "description": nullable, "flowable": {"type": "boolean"},
            "branches": {"type": "array", "items": {"type": "object", "properties": {
                "name": string, "parallel": {"type": "boolean"},
                "tasks": {"type": "array", "items": _ref("Node")}}}},
        },
    }  # fmt: skip

    def page(item: str) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "results": {"type": "array", "items": _ref(item)},
                "total": {"type": "integer"},
            },
        }

    return {
        "Error": {"type": "object", "required": ["message"], "properties": {"message": string}},
        "Problem": {"type": "object", "properties": {
            "line": {"type": ["integer", "null"]}, "column": {"type": ["integer", "null"]},
            "path": string, "message": string}},
        "Invalid": {"type": "object", "properties": {"message": string, "problems": {"type": "array", "items": _ref("Problem")}}},
        "Validation": {"type": "object", "properties": {
            "index": {"type": "integer"}, "flow": nullable, "namespace": nullable, "constraints": string,
            "problems": {"type": "array", "items": _ref("Problem")}}},
        "User": {"type": "object", "properties": {"username": string}},
        "Label": {"type": "object", "properties": {"key": string, "value": string}},
        "State": state,
        "TaskRun": {"type": "object", "properties": {
            "id": string, "executionId": string, "taskId": string, "parentTaskRunId": nullable,
            "value": nullable, "iteration": {"type": ["integer", "null"]}, "state": _ref("State"),
            "attempts": {"type": "array", "items": {"type": "object", "properties": {
                "attempt": {"type": "integer"}, "state": _ref("State"), "logFile": string}}},
            "outputs": _OBJECT, "error": nullable}},
        "Execution": {"type": "object", "properties": {
            "id": string, "namespace": string, "flowId": string, "flowRevision": {"type": ["integer", "null"]},
            "inputs": _OBJECT, "outputs": _OBJECT, "variables": _OBJECT,
            "labels": {"type": "array", "items": _ref("Label")}, "state": _ref("State"),
            "trigger": {"type": ["object", "null"]}, "parentId": nullable, "originalId": string,
            "error": nullable, "taskRunList": {"type": "array", "items": _ref("TaskRun")}}},
        "ExecutionPage": page("Execution"),
        "Flow": {"type": "object", "properties": {
            "id": string, "namespace": string, "revision": {"type": "integer"},
            "deleted": {"type": "boolean"}, "source": string}},
        "FlowPage": page("Flow"),
        "Graph": {"type": "object", "properties": {
            k: {"type": "array", "items": _ref("Node")} for k in ("tasks", "errors", "finally", "afterExecution")}},
        "Node": node,
        "LogEntry": {"type": "object", "properties": {
            k: nullable for k in ("timestamp", "level", "message", "taskRunId", "taskId",
                                  "executionId", "namespace", "flowId")}},
        "LogPage": page("LogEntry"),
        "Trigger": {"type": "object", "properties": {
            "namespace": string, "flowId": string, "triggerId": string, "type": string,
            "disabled": {"type": "boolean"}, "nextExecutionDate": nullable,
            "backfill": {"type": ["object", "null"]}}},
        "KVEntry": {"type": "object", "properties": {
            "namespace": string, "key": string, "type": string, "revision": {"type": "integer"},
            "description": nullable, "creationDate": string, "updateDate": string,
            "expirationDate": nullable}},
        "BulkResponse": {"type": "object", "properties": {"count": {"type": "integer"}}},
        "BulkError": {"type": "object", "properties": {"message": string, "invalids": {
            "type": "array", "items": {"type": "object", "properties": {
                "message": string, "invalidValue": string}}}}},
        "EvalResult": {"type": "object", "properties": {
            "result": nullable, "error": nullable, "stackTrace": nullable}},
        "FileMetas": {"type": "object", "properties": {"size": {"type": "integer"}}},
        "MetricEntry": {"type": "object", "properties": {
            "namespace": string, "flowId": string, "executionId": string, "taskId": nullable,
            "taskRunId": nullable, "type": string, "name": string, "value": {"type": "number"},
            "timestamp": string, "tags": _OBJECT}},
        "MetricPage": page("MetricEntry"),
        "MetricAggregations": {"type": "object", "properties": {
            "groupBy": {"enum": ["minute", "hour", "day", "week", "month"]},
            "aggregations": {"type": "array", "items": {"type": "object", "properties": {
                "name": string, "value": {"type": ["number", "null"]}, "date": string}}}}},
        "Preview": {"type": "object", "properties": {
            "type": {"enum": ["csv", "json", "text"]}, "rows": {"type": "array"}, "content": {},
            "truncated": {"type": "boolean"}}},
    }  # fmt: skip


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Podium API",
            "version": "1",
            "description": (
                "Kestra 1.x-compatible paths. Every /api/v1/... path is also served as "
                "/api/v1/main/... (Kestra's default tenant). Errors are JSON with a message."
            ),
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "session": {"type": "apiKey", "in": "cookie", "name": "podium_session"},
            },
        },
        "security": [{"basic": []}, {"session": []}],
        "paths": _paths(),
    }
