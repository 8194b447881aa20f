"""The object-store families' pure parts: URIs, listing filters, MOVE targets, loading."""

from __future__ import annotations

import importlib

import pytest

from engine.catalog import Catalog
from engine.errors import FlowDefinitionError, TaskFailed
from engine.flow import Registries, load_flow
from engine.plugin import OptionalFamily
from tasks import FAMILIES, OPTIONAL_FAMILIES, UNAVAILABLE
from tasks.objectstore import ObjectFilter, moved_key, split_uri


def test_split_uri_is_strict() -> None:
    assert split_uri("gs://b/a/c.csv", "gs") == ("b", "a/c.csv")
    assert split_uri("gs://b", "gs") == ("b", "")
    for bad in ("s3://b/k", "gs:///k", "b/k", "gs://b/\x00"):
        with pytest.raises(TaskFailed):
            split_uri(bad, "gs")


def test_object_filter() -> None:
    flt = ObjectFilter.build("in/", "DIRECTORY", r".*\.csv", "FILES")
    assert flt.delimiter == "/"
    assert flt.wants("gs://b/in/a.csv", "in/a.csv")
    assert not flt.wants("gs://b/in/a.txt", "in/a.txt")
    assert not flt.wants("gs://b/in/sub/", "in/sub/")  # a folder, FILES only
    assert ObjectFilter.build("", "RECURSIVE", None).delimiter is None
    with pytest.raises(TaskFailed, match="not a regular expression"):
        ObjectFilter.build("", None, "(")
    with pytest.raises(TaskFailed, match="DIRECTORY or RECURSIVE"):
        ObjectFilter.build("", "SIDEWAYS", None)


def test_moved_key_keeps_the_path_under_the_listed_prefix() -> None:
    assert moved_key("in/a.csv", "in/", "done/") == "done/a.csv"
    assert moved_key("in/2024/a.csv", "in/", "done") == "done/2024/a.csv"
    assert moved_key("elsewhere/a.csv", "in/", "done/") == "done/a.csv"
    assert moved_key("a.csv", "", "") == "a.csv"


def _registries(*families: OptionalFamily) -> Registries:
    return Catalog((*FAMILIES, *families), unavailable=UNAVAILABLE).registries


def test_every_family_type_is_under_its_prefix() -> None:
    """A module may sit under several prefixes (Kestra's former names as aliases): each
    type is under one of them, and each prefix names some type of the module."""
    prefixes: dict[str, set[str]] = {}
    for family in OPTIONAL_FAMILIES:
        prefixes.setdefault(family.module, set()).add(family.prefix)
    for name, under in prefixes.items():
        module = importlib.import_module(name)
        names = [
            n
            for cls in (*module.TASKS, *getattr(module, "TRIGGERS", ()))
            for n in (cls.type_name, *cls.aliases)
        ]
        for cls in (*module.TASKS, *getattr(module, "TRIGGERS", ())):
            assert any(cls.type_name.startswith(p) for p in under), cls
        for prefix in under:
            assert any(n.startswith(prefix) for n in names), (name, prefix)


def test_load_from_gcs_is_refused_with_its_own_reason_even_without_the_gcp_extra() -> None:
    missing = OptionalFamily(
        "io.kestra.plugin.gcp.", "tests.support.family_without_its_extra", "gcp"
    )
    registries = _registries(missing)
    flow = """
id: f
namespace: t
tasks:
  - {id: %s, type: io.kestra.plugin.gcp.%s}
"""
    with pytest.raises(FlowDefinitionError, match="BigQuery LoadFromGcs is not available"):
        load_flow(flow % ("l", "bigquery.LoadFromGcs"), registries)
    with pytest.raises(FlowDefinitionError, match=r"pip install 'podium\[gcp\]'"):
        load_flow(flow % ("q", "bigquery.Query"), registries)
    with pytest.raises(FlowDefinitionError, match=r"pip install 'podium\[gcp\]'"):
        load_flow(flow % ("u", "gcs.Upload"), registries)


def test_move_without_a_destination_is_refused_at_load() -> None:
    registries = _registries(*OPTIONAL_FAMILIES)
    flow = """
id: f
namespace: t
tasks:
  - {id: d, type: io.kestra.plugin.aws.s3.Downloads, bucket: b, action: MOVE}
"""
    with pytest.raises(FlowDefinitionError, match="action MOVE needs moveTo"):
        load_flow(flow, registries)


COURSE_LIKE = """
id: gcp_taxi
namespace: zoomcamp
pluginDefaults:
  - type: io.kestra.plugin.gcp
    values:
      serviceAccount: "{{ kv('GCP_CREDS') }}"
      projectId: "{{ kv('GCP_PROJECT_ID') }}"
      location: "{{ kv('GCP_LOCATION') }}"
      bucket: "{{ kv('GCP_BUCKET_NAME') }}"
tasks:
  - id: upload_to_gcs
    type: io.kestra.plugin.gcp.gcs.Upload
    from: "{{ inputs.file }}"
    to: "gs://{{ kv('GCP_BUCKET_NAME') }}/yellow.csv"
  - id: create_gcs_bucket
    type: io.kestra.plugin.gcp.gcs.CreateBucket
    ifExists: SKIP
    storageClass: REGIONAL
    name: "{{ kv('GCP_BUCKET_NAME') }}"
"""


def test_plugin_defaults_by_prefix_skip_what_a_type_lacks_as_in_the_course() -> None:
    flow = load_flow(COURSE_LIKE, _registries(*OPTIONAL_FAMILIES))
    upload, bucket = flow.tasks
    assert upload.serviceAccount == "{{ kv('GCP_CREDS') }}"  # type: ignore[attr-defined]
    assert bucket.location == "{{ kv('GCP_LOCATION') }}"  # type: ignore[attr-defined]
    # written in the task itself, an unknown property is still refused
    with pytest.raises(FlowDefinitionError, match="unknown property 'bucket'"):
        load_flow(
            COURSE_LIKE.replace("    ifExists: SKIP", "    bucket: b"),
            _registries(*OPTIONAL_FAMILIES),
        )
