"""http.Download and http.Request, each run through the whole embedded pipeline against
a local aiohttp server."""

from __future__ import annotations

import asyncio
import hashlib

import orjson
import pytest
from aiohttp import web

from tasks.http.download import filename_from
from tests.conftest import Harness
from tests.tasks.http.receiver import serve

HEADER = "id: f\nnamespace: tests\n"
CSV = b"id,name\n" + b"".join(b"%d,name %d\n" % (i, i) for i in range(20_000))


async def csv_file(request: web.Request) -> web.StreamResponse:
    return web.Response(
        body=CSV,
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="../../trips.csv"'},
    )


async def chunked(request: web.Request) -> web.StreamResponse:
    # No Content-Length: the body arrives in pieces, as from a slow producer.
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for i in range(48):
        await response.write(bytes([i]) * 100_000)
    await response.write_eof()
    return response


async def upload(request: web.Request) -> web.StreamResponse:
    reader = await request.multipart()
    parts = {}
    async for part in reader:
        content = await part.read()  # type: ignore[union-attr]
        parts[part.name] = {  # type: ignore[union-attr]
            "filename": part.filename,  # type: ignore[union-attr]
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
        }
    return web.json_response(parts)


async def echo(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "contentType": request.headers.get("Content-Type"),
            "authorization": request.headers.get("Authorization"),
            "custom": request.headers.get("X-Custom"),
            "body": body.decode(),
        },
        headers={"X-Reply": "yes"},
    )


async def unavailable(request: web.Request) -> web.StreamResponse:
    return web.json_response({"error": "try later"}, status=503)


async def missing(request: web.Request) -> web.StreamResponse:
    return web.Response(text="no such file", status=404)


async def empty(request: web.Request) -> web.StreamResponse:
    return web.Response(status=200)


async def moved(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/echo")


async def slow(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(1)
    return web.Response(text="late")


async def large(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b"x" * 2_000_000, content_type="text/plain")


ROUTES = {
    "/files/data": csv_file,
    "/files/stream.bin": chunked,
    "/upload": upload,
    "/echo": echo,
    "/unavailable": unavailable,
    "/missing": missing,
    "/empty": empty,
    "/moved": moved,
    "/slow": slow,
    "/large": large,
}


async def test_download_streams_to_storage_and_a_later_task_uploads_it(harness: Harness) -> None:
    async with serve(ROUTES) as server:
        flow = (
            HEADER
            + f"""
tasks:
  - id: dl
    type: io.kestra.plugin.core.http.Download
    uri: "{server.url("/files/data")}"
  - id: big
    type: io.kestra.plugin.core.http.Download
    uri: "{server.url("/files/stream.bin")}"
  - id: send
    type: io.kestra.plugin.core.http.Request
    uri: "{server.url("/upload")}"
    method: POST
    contentType: multipart/form-data
    formData:
      data: "{{{{ outputs.dl.uri }}}}"
      renamed:
        name: copy.bin
        content: "{{{{ outputs.big.uri }}}}"
      note: hello
"""
        )
        outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    dl = outcome.run("dl").outputs
    assert dl["code"] == 200 and dl["length"] == len(CSV)
    assert dl["uri"].startswith("kestra:///tests/f/executions/") and dl["uri"].endswith(
        "/trips.csv"
    )
    assert dl["headers"]["Content-Type"] == ["text/csv"]
    assert harness.podium.storage.read(dl["uri"]) == CSV
    big = outcome.run("big").outputs
    assert big["length"] == 48 * 100_000 and big["uri"].endswith("/stream.bin")
    sent = orjson.loads(outcome.run("send").outputs["body"])
    assert sent["data"] == {
        "filename": "trips.csv",
        "sha256": hashlib.sha256(CSV).hexdigest(),
        "size": len(CSV),
    }
    assert sent["renamed"]["filename"] == "copy.bin" and sent["renamed"]["size"] == 4_800_000
    assert sent["note"]["size"] == 5


async def test_download_failures_name_the_status_and_empty_bodies(harness: Harness) -> None:
    async with serve(ROUTES) as server:
        flow = (
            HEADER
            + f"""
tasks:
  - id: lost
    type: io.kestra.plugin.core.http.Download
    uri: "{server.url("/missing")}"
    allowFailure: true
  - id: nothing
    type: io.kestra.plugin.core.http.Download
    uri: "{server.url("/empty")}"
    allowFailure: true
  - id: tolerated
    type: io.kestra.plugin.core.http.Download
    uri: "{server.url("/empty")}"
    failOnEmptyResponse: "{{{{ 1 == 2 }}}}"
"""
        )
        outcome = await harness.run(flow)
    assert outcome.state == "WARNING"
    lost = outcome.run("lost")
    assert lost.state.value == "WARNING"
    assert "failed with HTTP 404 Not Found: no such file" in (lost.error or "")
    assert "no response from server" in (outcome.run("nothing").error or "")
    tolerated = outcome.run("tolerated")
    assert tolerated.state.value == "SUCCESS" and tolerated.outputs["length"] == 0
    assert any("is empty" in m for m in outcome.messages("tolerated"))


async def test_request_with_json_body_headers_and_auth(harness: Harness) -> None:
    async with serve(ROUTES) as server:
        flow = (
            HEADER
            + f"""
inputs:
  - {{id: payload, type: JSON, defaults: '{{"title": "Podium pen", "price": 3}}'}}
tasks:
  - id: post
    type: io.kestra.plugin.core.http.Request
    uri: "{server.url("/echo")}"
    method: POST
    contentType: application/json
    body: "{{{{ inputs.payload }}}}"
    headers:
      X-Custom: "{{{{ flow.id }}}}"
    options:
      auth: {{type: BEARER, token: abc}}
      logs: [REQUEST_HEADERS, RESPONSE_BODY]
  - id: form
    type: io.kestra.plugin.core.http.Request
    uri: "{server.url("/echo")}?q=1"
    method: PUT
    formData: {{user: John Doe, n: 2}}
    options:
      basicAuthUser: ann
      basicAuthPassword: pw
  - id: use
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ (outputs.post.body | fromJson).body }}}}"
"""
        )
        outcome = await harness.run(flow)
    assert outcome.state == "SUCCESS", outcome.task_runs
    post = outcome.run("post").outputs
    assert post["code"] == 200 and post["uri"] == server.url("/echo")
    assert post["headers"]["X-Reply"] == ["yes"]
    echoed = orjson.loads(post["body"])
    assert orjson.loads(echoed["body"]) == {"title": "Podium pen", "price": 3}
    assert echoed["contentType"] == "application/json"
    assert echoed["authorization"] == "Bearer abc" and echoed["custom"] == "f"
    form = orjson.loads(outcome.run("form").outputs["body"])
    assert form["method"] == "PUT" and form["body"] == "user=John+Doe&n=2"
    assert form["contentType"] == "application/x-www-form-urlencoded"
    assert form["authorization"] == "Basic YW5uOnB3"
    logged = outcome.messages("post")
    assert any(m.startswith("request headers: ") and "'Authorization': '***'" in m for m in logged)
    assert any(m.startswith('response body: {"method"') for m in logged)
    assert not any("Bearer abc" in m for m in logged if m.startswith("request headers"))
    assert orjson.loads(outcome.run("use").outputs["value"]) == {"title": "Podium pen", "price": 3}


async def test_request_fails_on_error_status_unless_allowed(harness: Harness) -> None:
    async with serve(ROUTES) as server:
        flow = (
            HEADER
            + f"""
tasks:
  - id: allowed
    type: io.kestra.plugin.core.http.Request
    uri: "{server.url("/unavailable")}"
    options: {{allowFailed: true}}
  - id: legacy_allowed
    type: io.kestra.plugin.core.http.Request
    uri: "{server.url("/unavailable")}"
    allowFailed: true
  - id: redirect_kept
    type: io.kestra.plugin.core.http.Request
    uri: "{server.url("/moved")}"
    options: {{followRedirects: false}}
  - id: redirect_followed
    type: io.kestra.plugin.core.http.Request
    uri: "{server.url("/moved")}"
  - id: refused
    type: io.kestra.plugin.core.http.Request
    uri: "{server.url("/unavailable")}"
"""
        )
        outcome = await harness.run(flow)
    assert outcome.state == "FAILED"
    for task_id in ("allowed", "legacy_allowed"):
        run = outcome.run(task_id)
        assert run.state.value == "SUCCESS"
        assert run.outputs["code"] == 503
        assert orjson.loads(run.outputs["body"]) == {"error": "try later"}
    assert outcome.run("redirect_kept").outputs["code"] == 302
    assert outcome.run("redirect_followed").outputs["code"] == 200
    error = outcome.run("refused").error or ""
    assert error.startswith(f"GET {server.url('/unavailable')} failed with HTTP 503")
    assert '"try later"' in error


async def test_request_bounds_body_size_and_read_time(real_time_harness: Harness) -> None:
    async with serve(ROUTES) as server:
        flow = (
            HEADER
            + f"""
tasks:
  - id: parallel
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: too_big
        type: io.kestra.plugin.core.http.Request
        uri: "{server.url("/large")}"
        options: {{maxContentLength: 1000000}}
        allowFailure: true
      - id: too_slow
        type: io.kestra.plugin.core.http.Request
        uri: "{server.url("/slow")}"
        options: {{timeout: {{readIdleTimeout: PT0.3S}}}}
        allowFailure: true
      - id: closed
        type: io.kestra.plugin.core.http.Request
        uri: http://127.0.0.1:9/nothing
        allowFailure: true
"""
        )
        outcome = await real_time_harness.run(flow)
    assert outcome.state == "WARNING"
    assert "larger than options.maxContentLength (1000000 bytes)" in (
        outcome.run("too_big").error or ""
    )
    assert "read timeout (0.3s" in (outcome.run("too_slow").error or "")
    assert "cannot connect" in (outcome.run("closed").error or "")


async def test_templated_properties_are_checked_when_rendered(harness: Harness) -> None:
    flow = (
        HEADER
        + """
tasks:
  - id: bad
    type: io.kestra.plugin.core.http.Request
    uri: "ftp://example.invalid/x"
    allowFailure: true
  - id: flag
    type: io.kestra.plugin.core.http.Download
    uri: http://127.0.0.1:9/x
    failOnEmptyResponse: "{{ 'maybe' }}"
    options: {followRedirects: "perhaps"}
"""
    )
    outcome = await harness.run(flow)
    assert "must be an http(s) URL" in (outcome.run("bad").error or "")
    assert "property 'options.followRedirects' must be true or false, not 'perhaps'" in (
        outcome.run("flag").error or ""
    )


def test_encrypt_body_is_refused_when_the_flow_loads() -> None:
    from engine.catalog import default_registries
    from engine.errors import FlowDefinitionError
    from engine.flow import load_flow

    source = HEADER + (
        "tasks:\n  - {id: r, type: io.kestra.plugin.core.http.Request, uri: http://x, "
        "encryptBody: true}\n"
    )
    with pytest.raises(FlowDefinitionError, match="Podium does not encrypt outputs"):
        load_flow(source, default_registries())


def test_file_names_never_carry_a_path() -> None:
    cd = "Content-Disposition"
    assert filename_from({cd: ['attachment; filename="a b.csv"']}, "http://h/x") == "a b.csv"
    assert filename_from({cd: ["attachment; filename*=UTF-8''na%C3%AFve.txt"]}, "u") == "naïve.txt"
    assert filename_from({cd: ['inline; filename="../../etc/passwd"']}, "u") == "passwd"
    assert filename_from({}, "https://dummyjson.com/products?limit=3") == "products"
    assert filename_from({}, "https://h/dir/") == "dir"
    assert filename_from({}, "https://h") == "download"
