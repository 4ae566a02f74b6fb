"""Bundles and untagged manifests: export a bundle from one store and import it into another,
refused imports (a tampered layer, a tag that would move) leave the store unchanged, a
cancelled import too; pin, unpin and forget decide what GC keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import deckhouse_registry as dr


def put_image(store: dr.Store, tag: str, layer: bytes) -> tuple[str, str]:
    """Stores a one-layer image with the config ``{}`` and tags it; returns the manifest and
    layer digests."""
    config = store.put(b"{}")
    layer_digest = store.put(layer).digest
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": 2},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(layer)}
            ],
        }
    ).encode()
    m = store.put(manifest).digest
    store.tag(tag, m)
    return m, layer_digest


def new_store(tmp_path: Path, name: str) -> dr.Store:
    return dr.Store(tmp_path / name, durability="relaxed")


def state(store: dr.Store) -> tuple[list[str], list[dr.TagEntry]]:
    """What a refused operation must leave as it was: every blob and every tag."""
    return store.list(), store.tags()


def test_export_then_import_into_another_store(tmp_path: Path) -> None:
    src = new_store(tmp_path, "src")
    v1, _ = put_image(src, "v1", b"bundle-layer-one")
    v2, _ = put_image(src, "v2", b"bundle-layer-two")
    bundle = tmp_path / "bundle"
    exported = src.export_bundle(bundle)
    # Both images are in the root repository: one platform.tar holding the root layout; the
    # config is shared, so 1 config + 2 layers + 2 manifests.
    assert exported.files == ("platform.tar",) and exported.layouts == ("",)
    assert (exported.images, exported.blobs, exported.linked) == (2, 5, 0)
    assert (bundle / "platform.tar").is_file()
    with pytest.raises(dr.InvalidLayout):
        src.export_bundle(bundle)  # not empty any more
    with pytest.raises(dr.BlobNotFound):
        src.export_bundle(tmp_path / "unknown", tags=["v9"])

    dst = new_store(tmp_path, "dst")
    report = dst.import_bundle(bundle)
    assert (report.blobs_added, report.blobs_present, report.moved, report.skipped) == (5, 0, (), ())
    (layout,) = report.layouts
    assert (layout.source, layout.path, layout.repository, layout.images) == ("platform.tar", "", "", 2)
    assert layout.tags == ("v1", "v2") and layout.missing == ()
    assert {(t.name, t.digest) for t in dst.tags()} == {("v1", v1), ("v2", v2)}
    assert dst.list() == src.list()
    again = dst.import_bundle(bundle)
    assert (again.blobs_added, again.blobs_present) == (0, 5)


def test_a_tampered_layer_is_refused_and_the_store_unchanged(tmp_path: Path) -> None:
    src = new_store(tmp_path, "src")
    put_image(src, "v1", b"bundle-layer-one")
    bundle = tmp_path / "bundle"
    src.export_bundle(bundle)
    tar = bundle / "platform.tar"
    raw = bytearray(tar.read_bytes())
    at = raw.find(b"bundle-layer-one")
    assert at >= 0
    raw[at] ^= 0x20  # same size, other content: the digest no longer matches
    tar.write_bytes(bytes(raw))

    dst = new_store(tmp_path, "dst")
    put_image(dst, "other", b"already-here")
    before = state(dst)
    with pytest.raises(dr.ImportRefused):
        dst.import_bundle(bundle)
    assert state(dst) == before


def test_a_tag_move_needs_overwrite_tags(tmp_path: Path) -> None:
    a, b = new_store(tmp_path, "a"), new_store(tmp_path, "b")
    old, _ = put_image(a, "v1", b"bundle-layer-one")
    moved, _ = put_image(b, "v1", b"bundle-layer-two")
    a.export_bundle(tmp_path / "first")
    b.export_bundle(tmp_path / "second")

    dst = new_store(tmp_path, "dst")
    dst.import_bundle(tmp_path / "first")
    before = state(dst)
    with pytest.raises(dr.ImportRefused) as refused:
        dst.import_bundle(tmp_path / "second")
    assert old in str(refused.value) and moved in str(refused.value)
    assert state(dst) == before
    report = dst.import_bundle(tmp_path / "second", overwrite_tags=True)
    assert report.moved == (dr.TagMove(reference="v1", from_digest=old, to_digest=moved),)
    assert dst.resolve("v1") == moved


def test_a_cancelled_import_leaves_the_store_empty(tmp_path: Path) -> None:
    src = new_store(tmp_path, "src")
    put_image(src, "v1", b"bundle-layer-one")
    src.export_bundle(tmp_path / "bundle")
    dst = new_store(tmp_path, "dst")
    events: list[dr.Progress] = []

    def stop(p: dr.Progress) -> bool:
        events.append(p)
        return False

    with pytest.raises(dr.Cancelled):
        dst.import_bundle(tmp_path / "bundle", progress=stop)
    assert len(events) == 1 and events[0].operation == "import"
    assert state(dst) == ([], [])


def test_bad_limits_are_refused_by_name(tmp_path: Path) -> None:
    store = new_store(tmp_path, "s")
    with pytest.raises(ValueError, match="max_expansion_ratio"):
        store.import_bundle(tmp_path, max_expansion_ratio=-1)
    with pytest.raises(TypeError, match="max_expanded_bytes"):
        store.import_bundle(tmp_path, max_expanded_bytes="big")  # type: ignore[arg-type]


def test_pin_keeps_an_untagged_manifest_and_forget_lets_gc_take_it(tmp_path: Path) -> None:
    store = new_store(tmp_path, "s")
    old, old_layer = put_image(store, "v1", b"layer-one")
    put_image(store, "v1", b"layer-two")  # v1 moves on: the first manifest is in no entry now
    store.pin(old)
    assert store.gc(grace_seconds=0).deleted == ()
    assert old in store
    store.unpin(old)
    with pytest.raises(dr.BlobNotFound):
        store.unpin(old)
    store.pin(old)
    assert store.forget(old, repository="install") == 0
    assert store.forget(old, referrers=True) == 1
    # No entry keeps it now: the manifest and its own layer go.
    assert sorted(store.gc(grace_seconds=0).deleted) == sorted([old, old_layer])
    assert old not in store
    with pytest.raises(dr.InvalidRepository):
        store.forget(old, repository="Bad Repo!")
    with pytest.raises(dr.InvalidDigest):
        store.pin("nope")
    with pytest.raises(dr.BlobNotFound):
        store.pin("sha256:" + "0" * 64)
