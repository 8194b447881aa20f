"""POST /api/v1/flows/import under attack: zip bombs, headers that lie, many entries,
entry names that climb or hide, huge multi-document YAML, deep nesting and alias bombs.
Every upload is refused with a clear 4xx, nothing is imported, and the server answers on."""

from __future__ import annotations

import io
import struct
import zipfile

import aiohttp
import pytest

from engine.flow_archive import MAX_ENTRIES, MAX_FLOW_BYTES, MAX_FLOWS, MAX_UPLOAD_BYTES
from tests.attacks.conftest import Server

FLOW = "id: f{n}\nnamespace: attacks\ntasks:\n  - {{id: a, type: io.kestra.plugin.core.log.Log, message: hi}}\n"


def zipped(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


async def refused(server: Server, filename: str, data: bytes, status: int) -> str:
    form = aiohttp.FormData()
    # as a stream: aiohttp refuses to serialise bytes of several MiB in a form
    form.add_field("fileUpload", io.BytesIO(data), filename=filename)
    async with server.http.post(server.base + "/api/v1/flows/import", data=form) as answer:
        body = await answer.json()
        assert answer.status == status, body
    async with server.http.get(server.base + "/api/v1/flows") as listed:
        assert await listed.json() == [], "an attack upload imported something"
    async with server.http.get(server.base + "/health") as health:
        assert health.status == 200
    return str(body["message"])


async def test_a_zip_bomb_entry_is_refused_before_it_is_inflated(server: Server) -> None:
    bomb = b" " * (64 << 20)  # 64 MiB of spaces deflate to ~64 KiB
    data = zipped([("ok.yaml", FLOW.format(n=0).encode()), ("bomb.yaml", bomb)])
    assert len(data) < 200_000
    assert "'bomb.yaml' is over" in await refused(server, "bomb.zip", data, 413)


def _patch_sizes(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size an entry declares, in both of its headers."""
    out = bytearray(data)
    local = out.find(b"PK\x03\x04" + out[4:4])  # first local header
    while local != -1:
        name_length = struct.unpack_from("<H", out, local + 26)[0]
        if out[local + 30 : local + 30 + name_length] == name:
            struct.pack_into("<I", out, local + 22, size)
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", out, central + 28)[0]
        if out[central + 46 : central + 46 + name_length] == name:
            struct.pack_into("<I", out, central + 24, size)
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


async def test_an_entry_that_lies_about_its_size_is_refused(server: Server) -> None:
    data = _patch_sizes(zipped([("liar.yaml", b"# " + b"x" * (4 << 20))]), b"liar.yaml", 100)
    message = await refused(server, "liar.zip", data, 400)
    assert "'liar.yaml' is corrupt" in message


async def test_many_entries_or_many_flows_or_much_in_all(server: Server) -> None:
    many = zipped([(f"d/{n}.txt", b"") for n in range(MAX_ENTRIES + 1)])
    assert "more than" in await refused(server, "many.zip", many, 413)
    flows = zipped([(f"{n}.yaml", FLOW.format(n=n).encode()) for n in range(MAX_FLOWS + 1)])
    assert f"more than {MAX_FLOWS} flows" in await refused(server, "flows.zip", flows, 413)
    # each entry under the per-flow limit, together over the total: still refused
    filler = b"#" + b" " * (MAX_FLOW_BYTES - 1)
    total = zipped([(f"{n}.yaml", filler) for n in range(17)])
    assert "decompresses to more than" in await refused(server, "total.zip", total, 413)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../../etc/cron.d/evil.yaml", "climbs out"),
        ("flows/../../evil.yaml", "climbs out"),
        ("/etc/evil.yaml", "is absolute"),
        ("C:/evil.yaml", "is absolute"),
        ("flows\\..\\evil.yaml", "backslash"),
        ("evil\x1b[2J.yaml", "control characters"),
        ("a" * 300 + ".yaml", "longer than"),
    ],
)
async def test_entry_names_that_climb_or_hide_are_refused(
    server: Server, name: str, why: str
) -> None:
    data = zipped([("good.yaml", FLOW.format(n=1).encode()), (name, FLOW.format(n=2).encode())])
    assert why in await refused(server, "names.zip", data, 400)


async def test_encrypted_entries_and_duplicate_names_are_refused(server: Server) -> None:
    data = bytearray(zipped([("locked.yaml", FLOW.format(n=1).encode())]))
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        struct.pack_into("<H", data, at + flag_offset, 0x1)
    assert "encrypted" in await refused(server, "locked.zip", bytes(data), 400)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("same.yaml", FLOW.format(n=1))
        with pytest.warns(UserWarning, match="Duplicate"):
            archive.writestr("same.yaml", FLOW.format(n=2))
    assert "two entries named" in await refused(server, "dup.zip", buffer.getvalue(), 400)


async def test_not_a_zip_and_not_text(server: Server) -> None:
    assert "not a readable zip" in await refused(server, "x.zip", b"PK\x03\x04garbage", 400)
    assert "not UTF-8" in await refused(server, "x.yaml", b"id: \xff\xfe\n", 400)


async def test_huge_multi_document_yaml(server: Server) -> None:
    documents = "---\n".join(FLOW.format(n=n) for n in range(MAX_FLOWS + 1))
    assert f"more than {MAX_FLOWS} flows" in await refused(
        server, "many.yaml", documents.encode(), 413
    )
    oversized = b"# " + b"x" * MAX_UPLOAD_BYTES
    assert "over" in await refused(server, "big.yaml", oversized, 413)
    one_large = FLOW.format(n=1) + "---\n# " + "y" * MAX_FLOW_BYTES + "\n"
    assert "document 1" in await refused(server, "large.yaml", one_large.encode(), 413)


async def test_deep_nesting_and_alias_bombs_are_invalid_flows(server: Server) -> None:
    deep = FLOW.format(n=1) + "labels: " + "[" * 10_000 + "]" * 10_000 + "\n"
    assert "nested deeper" in await refused(server, "deep.yaml", deep.encode(), 422)
    laughs = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        laughs.append(
            f"{chr(97 + level)}: &{chr(97 + level)} [{', '.join(['*' + chr(96 + level)] * 9)}]"
        )
    bomb = FLOW.format(n=2) + "variables:\n" + "\n".join("  " + line for line in laughs) + "\n"
    assert "alias" in await refused(server, "laughs.yaml", bomb.encode(), 422)


async def test_the_upload_needs_credentials(server: Server) -> None:
    form = aiohttp.FormData()
    form.add_field("fileUpload", FLOW.format(n=1).encode(), filename="a.yaml")
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.post(server.base + "/api/v1/flows/import", data=form) as answer,
    ):
        assert answer.status == 401
