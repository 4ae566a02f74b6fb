"""The Python types against the core's JSON Schema (registry-core/wire-schema.json), field by field.

The schema is generated from the core's serde types, so a core field renamed, added or removed
changes it, and these tests then fail until the Python side follows: the keys each result class
reads (``_wire_keys``: what ``_build`` reads) and the keys of each TypedDict of ``_wire`` must be
the schema's ``properties``; the ``Literal`` enums must be the schema's strings; and what the
native module really returns must validate against the schema.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import deckhouse_registry as dr
from deckhouse_registry import _api, _native, _types, _wire

from conftest import config

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "registry-core" / "wire-schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
DEFS: dict[str, Any] = SCHEMA["$defs"]

# Python result class -> the schema's type, and the schema keys it does not read (with why).
RESULTS: list[tuple[type, str, frozenset[str]]] = [
    (dr.Problem, "Problem", frozenset()),
    (dr.Reason, "Reason", frozenset()),
    (dr.Credentials, "Credentials", frozenset()),
    (dr.Upstream, "Upstream", frozenset()),
    (dr.Settings, "RegistrySettings", frozenset()),
    (dr.NodeFacts, "NodeFacts", frozenset()),
    (dr.ClusterFacts, "ClusterFacts", frozenset()),
    # A Plan is the allowed Decision; a refused one is raised as TransitionRefused.
    (dr.Plan, "Decision", frozenset({"allowed", "reasons", "route"})),
    (dr.RenderedFile, "RenderedFile", frozenset()),
    (dr.Rendered, "Rendered", frozenset()),
    (dr.ApplyReport, "ApplyReport", frozenset()),
    (dr.PreflightFinding, "PreflightFinding", frozenset()),
    (dr.UnreadableFile, "UnreadableFile", frozenset()),
    (dr.PreflightReport, "PreflightView", frozenset()),
    (dr.CleanupPlan, "CleanupPlan", frozenset()),
    (dr.PutOutcome, "PutOutcome", frozenset()),
    (dr.BlobStat, "BlobStat", frozenset()),
    (dr.TagEntry, "TagEntry", frozenset()),
    (dr.GcReport, "GcReport", frozenset()),
    (dr.ImportReport, "ImportReport", frozenset()),
    (dr.ExportReport, "ExportReport", frozenset()),
    (dr.LayoutReport, "LayoutReport", frozenset()),
    (dr.SkippedEntry, "SkippedEntry", frozenset()),
    (dr.TagMove, "TagMove", frozenset()),
    (dr.BundleReport, "BundleReport", frozenset()),
    (dr.BundleExportReport, "BundleExportReport", frozenset()),
    (dr.CorruptBlobInfo, "CorruptBlob", frozenset()),
    (dr.ForeignFile, "ForeignFile", frozenset()),
    (dr.ScrubReport, "ScrubView", frozenset()),
    (dr.Progress, "Progress", frozenset()),
]


def schema_keys(name: str) -> frozenset[str]:
    """The property names of a schema type; for a union (oneOf/anyOf), of all its variants."""
    definition = DEFS[name]
    keys = set(definition.get("properties", {}))
    for variant in definition.get("oneOf", []) + definition.get("anyOf", []):
        keys |= set(variant.get("properties", {}))
    return frozenset(keys)


def schema_strings(name: str) -> frozenset[str]:
    """The strings of a schema enum (``enum``, or ``oneOf`` of ``const``s)."""
    definition = DEFS[name]
    if "enum" in definition:
        return frozenset(definition["enum"])
    return frozenset(v["const"] for v in definition["oneOf"])


def typeddicts() -> list[tuple[str, Any]]:
    """Every TypedDict of ``_wire``."""
    return sorted(
        ((name, obj) for name, obj in vars(_wire).items() if typing.is_typeddict(obj)),
        key=lambda item: item[0],
    )


def literals() -> list[tuple[str, Any]]:
    """Every ``Literal`` alias of ``_wire`` (the wire enums)."""
    return sorted(
        ((name, obj) for name, obj in vars(_wire).items() if typing.get_origin(obj) is typing.Literal),
        key=lambda item: item[0],
    )


def test_the_schema_is_the_core_one() -> None:
    assert SCHEMA["title"] == "deckhouse-registry wire shapes"
    assert {"Failure", "StoreOptions", "SettingsView", "ScrubView", "PreflightView"} <= DEFS.keys()


@pytest.mark.parametrize(("cls", "name", "unread"), RESULTS, ids=[c.__name__ for c, _, _ in RESULTS])
def test_result_classes_read_the_schema_keys(cls: type, name: str, unread: frozenset[str]) -> None:
    read = _types._wire_keys(cls)
    assert read | unread == schema_keys(name), f"{cls.__name__} vs $defs.{name}"
    assert not read & unread


def test_every_result_class_is_in_the_table() -> None:
    classes = {getattr(_types, n) for n in _types.__all__ if dataclasses.is_dataclass(getattr(_types, n))}
    assert classes == {cls for cls, _, _ in RESULTS}


@pytest.mark.parametrize(("name", "td"), typeddicts(), ids=[n for n, _ in typeddicts()])
def test_typeddicts_have_the_schema_keys(name: str, td: Any) -> None:
    assert frozenset(td.__required_keys__ | td.__optional_keys__) == schema_keys(name)


@pytest.mark.parametrize(("name", "alias"), literals(), ids=[n for n, _ in literals()])
def test_literal_enums_are_the_schema_strings(name: str, alias: Any) -> None:
    assert frozenset(typing.get_args(alias)) == schema_strings(name)


def test_every_wire_shape_is_a_schema_type() -> None:
    names = {name for name, _ in typeddicts() + literals()}
    assert names <= DEFS.keys()
    assert {"StoreOptions", "RenderOptions", "SettingsView", "Failure", "ErrorCode", "SwitchCheck"} <= names


def validate(value: object, name: str) -> None:
    """Validates ``value`` against ``$defs[name]`` (draft 2020-12, references resolved)."""
    jsonschema.Draft202012Validator({"$defs": DEFS, "$ref": f"#/$defs/{name}"}).validate(value)


def test_the_validator_rejects_a_wrong_shape() -> None:
    # So that the checks below can fail: a wire value with a key of the wrong type.
    with pytest.raises(jsonschema.ValidationError):
        validate({"digest": "sha256:" + "0" * 64, "size": "5", "created": True}, "PutOutcome")
    with pytest.raises(jsonschema.ValidationError):
        validate({"digest": "md5:00", "size": 5, "created": True}, "PutOutcome")


@pytest.mark.parametrize(
    "name", ["direct.yaml", "proxy.yaml", "local.yaml", "unmanaged.yaml", "unmanaged-legacy.yaml"]
)
def test_settings_views_validate(name: str) -> None:
    view = _native.load_settings(config(name).read_bytes())
    validate(view, "SettingsView")


def test_node_outputs_validate(tmp_path: Path) -> None:
    facts = _native.load_facts(config("cluster.yaml").read_bytes())
    validate(facts, "ClusterFacts")
    direct = _native.load_settings(config("direct.yaml").read_bytes())["settings"]
    proxy = _native.load_settings(config("proxy.yaml").read_bytes())["settings"]
    validate(_native.plan(direct, proxy, facts), "Decision")
    rendered, _ = _native.render(proxy, direct, facts, {"containerd": "v2"})
    validate(rendered, "Rendered")
    validate(_native.apply(rendered, str(tmp_path / "node")), "ApplyReport")
    validate(_native.stale_host_dirs(["a", "../b"], ["a"]), "CleanupPlan")
    (tmp_path / "etc" / "conf.d").mkdir(parents=True)
    (tmp_path / "etc" / "conf.d" / "m.toml").write_text('[plugins."io.containerd.grpc.v1.cri".registry]\n')
    preflight = _native.preflight(str(tmp_path / "etc"))
    validate(preflight, "PreflightView")
    assert preflight["hasCustomRegistryConfig"]


def test_store_outputs_validate(tmp_path: Path) -> None:
    store = _native.Store(str(tmp_path / "store"), {"durability": "relaxed"})
    put = store.put_bytes(b"hello")
    validate(put, "PutOutcome")
    w = store.writer()
    w.write(b"world")
    validate(w.commit(), "PutOutcome")
    validate(store.stat(put["digest"]), "BlobStat")
    events: list[Mapping[str, Any]] = []
    scrub = store.scrub({"quarantine": False}, events.append)
    validate(scrub, "ScrubView")
    assert scrub["clean"] and events
    for event in events:
        validate(event, "Progress")
    validate(store.gc({"dryRun": True, "graceSeconds": 0}), "GcReport")
    validate(store.export(str(tmp_path / "out"), {"tags": []}), "ExportReport")
    validate(store.import_path(str(tmp_path / "out")), "ImportReport")


def test_bundle_outputs_validate(tmp_path: Path) -> None:
    store = _native.Store(str(tmp_path / "store"), {"durability": "relaxed"})
    config_blob, layer = store.put_bytes(b"{}"), store.put_bytes(b"layer")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_blob["digest"],
                "size": config_blob["size"],
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer["digest"], "size": layer["size"]}
            ],
        }
    )
    store.tag("v1", store.put_bytes(manifest.encode())["digest"])
    exported = store.export_bundle(str(tmp_path / "bundle"), {"referrers": True})
    validate(exported, "BundleExportReport")
    other = _native.Store(str(tmp_path / "other"), {"durability": "relaxed"})
    report = other.import_bundle(str(tmp_path / "bundle"), {"overwriteTags": False})
    validate(report, "BundleReport")
    assert report["layouts"][0]["tags"] == ["v1"]


def failure_of(call: typing.Callable[[], object]) -> Mapping[str, Any]:
    with pytest.raises(dr.RegistryError) as info:
        call()
    assert info.value.failure is not None
    return info.value.failure


def test_failures_validate(tmp_path: Path) -> None:
    problems = failure_of(lambda: dr.load_settings(config("invalid.yaml")))
    validate(problems, "Failure")
    assert problems["code"] == "InvalidSettings" and problems["detail"]["kind"] == "problems"

    facts = failure_of(lambda: dr.parse_facts('{"nodes": [{"name": 5}]}'))
    validate(facts, "Failure")
    assert facts["code"] == "InvalidFacts"

    local, proxy = dr.load_settings(config("local.yaml")), dr.load_settings(config("proxy.yaml"))
    refused = failure_of(lambda: dr.plan(local, proxy))
    validate(refused, "Failure")
    assert refused["code"] == "TransitionRefused" and refused["detail"]["kind"] == "refusal"

    store = dr.Store(tmp_path / "store")
    wrong = "sha256:" + hashlib.sha256(b"other").hexdigest()
    mismatch = failure_of(lambda: store.put(b"data", expected=wrong))
    validate(mismatch, "Failure")
    assert mismatch["code"] == "DigestMismatch" and mismatch["detail"]["kind"] == "digestMismatch"

    missing = failure_of(lambda: store.get(wrong))
    validate(missing, "Failure")
    assert missing["code"] == "NotFound"


def _refs(value: object) -> set[str]:
    """The ``$defs`` names a schema fragment refers to."""
    if isinstance(value, dict):
        found = {value["$ref"].rsplit("/", 1)[-1]} if "$ref" in value else set()
        for v in value.values():
            found |= _refs(v)
        return found
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def _reachable(*roots: str) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _refs(DEFS[name])
    return seen


def _properties(definition: Mapping[str, Any]) -> dict[str, Any]:
    props = dict(definition.get("properties", {}))
    for variant in definition.get("oneOf", []) + definition.get("anyOf", []):
        props.update(_properties(variant))
    return props


def _may_be_string(prop: Mapping[str, Any]) -> bool:
    """Whether a property's value can be a JSON string (directly or through a reference)."""
    kinds = prop.get("type", [])
    if kinds == "string" or "string" in kinds:
        return True
    variants = prop.get("anyOf", []) + prop.get("oneOf", [])
    if any(_may_be_string(v) for v in variants):
        return True
    return any(_may_be_string(DEFS[r]) for r in ({prop["$ref"].rsplit("/", 1)[-1]} if "$ref" in prop else set()))


def test_the_secret_keys_are_the_schema_secrets() -> None:
    # reconcile wraps string values by key, so every property typed Secret in the orchestrator's
    # shapes must have a key in SECRET_KEYS, and no key there may name a string that is not one.
    secret: set[str] = set()
    other_strings: set[str] = set()
    for name in _reachable("State", "Inputs", "Step"):
        for key, prop in _properties(DEFS[name]).items():
            if "Secret" in _refs(prop):
                secret.add(key)
            elif _may_be_string(prop):
                other_strings.add(key)
    assert secret == set(_api.SECRET_KEYS)
    assert not secret & other_strings


def test_a_reconcile_step_validates() -> None:
    settings = _native.load_settings(config("direct.yaml").read_bytes())["settings"]
    options: _wire.ReconcileOptions = {"now": "2026-12-01T10:00:00Z", "seed": 3}
    step = _native.reconcile(None, {"settings": settings}, options)
    validate(step, "Step")
    again = _native.reconcile(step["state"], {"settings": settings}, options)  # type: ignore[arg-type]
    validate(again, "Step")
    refused = _native.reconcile({"mode": "Local"}, {"settings": {"mode": "Local"}}, options)
    validate(refused, "Step")
