"""The blob store: every operation and every error kind that can be triggered from Python."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

import deckhouse_registry as dr


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def put_image(store: dr.Store, tag: str = "v1") -> tuple[str, list[str]]:
    """Stores a small OCI image (config, one layer, manifest) and tags it; returns the
    manifest digest and every blob digest."""
    config = b'{"architecture":"amd64","os":"linux"}'
    layer = os.urandom(3000)
    blobs = [store.put(config).digest, store.put(layer).digest]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": blobs[0],
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": blobs[1],
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    m = store.put(manifest).digest
    store.tag(tag, m)
    return m, [*blobs, m]


def test_put_bytes_is_content_addressed(store: dr.Store) -> None:
    first = store.put(b"hello")
    assert first == dr.PutOutcome(digest=sha256(b"hello"), size=5, created=True)
    assert store.put(bytearray(b"hello")) == dr.PutOutcome(digest=sha256(b"hello"), size=5, created=False)
    assert store.put(memoryview(b"hello")).created is False
    assert store.get(first.digest) == b"hello"
    assert store.root.joinpath("blobs", "sha256", hashlib.sha256(b"hello").hexdigest()).read_bytes() == b"hello"
    assert (store.root / "oci-layout").is_file()


def test_put_path_and_file_object(store: dr.Store, tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # crosses the 1 MiB read chunks
    f = tmp_path / "blob"
    f.write_bytes(data)
    by_path = store.put(f, expected=sha256(data))
    assert by_path == dr.PutOutcome(digest=sha256(data), size=len(data), created=True)
    other = os.urandom(2 * (1 << 20) + 5)
    by_stream = store.put(io.BytesIO(other))
    assert by_stream == dr.PutOutcome(digest=sha256(other), size=len(other), created=True)
    with f.open("rb") as fh:
        assert store.put(fh).created is False
    assert store.get(by_stream.digest) == other
    with pytest.raises(TypeError):
        store.put("a string is ambiguous")  # type: ignore[arg-type]


def test_put_expected_digest_mismatch(store: dr.Store) -> None:
    wrong = sha256(b"something else")
    with pytest.raises(dr.DigestMismatch) as info:
        store.put(b"payload", expected=wrong)
    e = info.value
    assert (e.expected, e.actual, e.actual_size, e.code) == (wrong, sha256(b"payload"), 7, "DigestMismatch")
    assert isinstance(e, dr.StoreError) and isinstance(e, ValueError)
    assert not store.has(sha256(b"payload"))
    assert store.list() == []


def test_writer_context_manager(store: dr.Store) -> None:
    with store.writer() as w:
        assert w.write(b"abc") == 3
        w.write(memoryview(b"def"))
        assert w.written == 6 and not w.closed
    assert w.closed
    assert w.result == dr.PutOutcome(digest=sha256(b"abcdef"), size=6, created=True)
    with pytest.raises(ValueError):
        w.write(b"more")

    with pytest.raises(RuntimeError), store.writer() as w2:
        w2.write(b"never stored")
        raise RuntimeError("boom")
    assert w2.closed and w2.result is None
    assert not store.has(sha256(b"never stored"))


def test_writer_sha512_and_expected_size(store: dr.Store) -> None:
    w = store.writer("sha512")
    w.write(b"x" * 100)
    r = w.commit(expected_size=100)
    assert r.digest == "sha512:" + hashlib.sha512(b"x" * 100).hexdigest()
    assert store.get(r.digest) == b"x" * 100
    w = store.writer()
    w.write(b"abc")
    with pytest.raises(dr.DigestMismatch) as info:
        w.commit(expected_size=4)
    assert info.value.expected_size == 4 and info.value.actual_size == 3
    with pytest.raises(ValueError):
        store.writer("md5")
    w = store.writer("sha512")
    w.write(b"abc")
    with pytest.raises(dr.InvalidUpload) as upload:
        w.commit(expected=sha256(b"abc"))  # a sha256 digest for a sha512 writer
    assert upload.value.code == "InvalidUpload"
    assert not store.has(sha256(b"abc"))
    w = store.writer()
    w.write(b"dropped")
    w.abort()
    w.abort()  # idempotent
    assert not store.has(sha256(b"dropped"))


def test_reads(store: dr.Store) -> None:
    data = bytes(range(256)) * 10
    d = store.put(data).digest
    assert store.read_range(d, 10, 20) == data[10:30]
    assert store.read_range(d, len(data) - 5, 100) == data[-5:]  # clamped to the end
    assert store.read_range(d, len(data) + 10, 5) == b""
    st = store.stat(d)
    assert (st.digest, st.size) == (d, len(data))
    assert st.created_ms > 0 and st.last_used_ms >= st.created_ms
    assert store.has(d) and d in store and "not a digest" not in store
    assert store.list() == [d]


def test_delete_and_not_found(store: dr.Store) -> None:
    d = store.put(b"gone soon").digest
    store.delete(d)
    assert not store.has(d)
    for call in (store.get, store.stat, store.delete):
        with pytest.raises(dr.BlobNotFound) as info:
            call(d)
        assert isinstance(info.value, LookupError) and info.value.code == "NotFound"
    with pytest.raises(dr.BlobNotFound):
        store.read_range(d, 0, 1)


def test_invalid_digest(store: dr.Store) -> None:
    for bad in ("sha256:xyz", "md5:" + "0" * 32, "sha256:../../etc/passwd"):
        with pytest.raises(dr.InvalidDigest) as info:
            store.get(bad)
        assert isinstance(info.value, ValueError)


def test_tags(store: dr.Store) -> None:
    m, _ = put_image(store)
    assert store.resolve("v1") == m
    [entry] = store.tags()
    assert (entry.name, entry.digest, entry.media_type) == ("v1", m, "application/vnd.oci.image.manifest.v1+json")
    index = json.loads((store.root / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    with pytest.raises(dr.InvalidTag):
        store.tag("bad tag!", m)
    with pytest.raises(dr.InvalidManifest):
        store.tag("v2", store.put(b"not a manifest").digest)
    store.untag("v1")
    assert store.tags() == []
    with pytest.raises(dr.BlobNotFound):
        store.untag("v1")
    with pytest.raises(dr.BlobNotFound):
        store.resolve("v1")


def test_gc(store: dr.Store) -> None:
    _, kept = put_image(store)
    loose = store.put(b"unreferenced").digest
    dry = store.gc(grace_seconds=0, dry_run=True)
    assert dry.dry_run and dry.deleted == (loose,)
    assert store.has(loose)
    seen: list[dr.Progress] = []
    report = store.gc(grace_seconds=0, progress=seen.append)
    assert report.deleted == (loose,) and report.deleted_bytes == len(b"unreferenced")
    assert report.examined == 4 and report.reachable == 3
    assert not store.has(loose) and all(store.has(d) for d in kept)
    assert seen and all(p.operation == "gc" for p in seen)
    # young blobs are protected by the grace period (default one hour)
    young = store.put(b"young").digest
    assert store.gc().deleted == () and store.has(young)


def test_scrub_finds_corruption(store: dr.Store) -> None:
    d = store.put(b"original").digest
    clean = store.scrub()
    assert clean.clean and clean.checked == 1 and clean.corrupt == ()
    path = store.root / "blobs" / "sha256" / d.split(":")[1]
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(dr.CorruptBlob):
        store.get(d)
    report = store.scrub(quarantine=False)
    assert not report.clean
    assert [(c.digest, c.actual) for c in report.corrupt] == [(d, sha256(b"tampered"))]
    assert path.exists()
    quarantined = store.scrub()
    assert quarantined.corrupt[0].quarantined_to is not None
    assert not store.has(d)


def test_export_import_dir(store: dr.Store, tmp_path: Path) -> None:
    m, blobs = put_image(store)
    events: list[dr.Progress] = []
    out = tmp_path / "bundle"
    report = store.export(out, progress=events.append)
    assert report == dr.ExportReport(tags=("v1",), blobs=3, bytes=sum(store.stat(b).size for b in blobs))
    assert events and events[-1].operation == "export" and events[-1].items_done == 3
    assert (out / "oci-layout").is_file()

    other = dr.Store(tmp_path / "other")
    imported = other.import_path(out)
    assert (imported.blobs_added, imported.blobs_present, imported.tags) == (3, 0, ("v1",))
    assert other.resolve("v1") == m
    assert sorted(other.list()) == sorted(blobs)
    again = other.import_path(out)
    assert (again.blobs_added, again.blobs_present) == (0, 3)

    with pytest.raises(dr.InvalidLayout):
        store.export(out)  # not empty


def test_export_import_tar(store: dr.Store, tmp_path: Path) -> None:
    m, _ = put_image(store)
    put_image(store, "v2")
    tgz = tmp_path / "bundle.tar.gz"
    report = store.export(tgz, tags=["v1"], tar=True, gzip=True)
    assert report.tags == ("v1",)
    with tarfile.open(tgz, "r:gz") as t:
        assert "index.json" in t.getnames()
    other = dr.Store(tmp_path / "other")
    assert other.import_path(tgz).tags == ("v1",)
    assert other.resolve("v1") == m
    with pytest.raises(dr.InvalidArgument):  # the core's rule: a folder is never compressed
        store.export(tmp_path / "x", gzip=True)
    assert not (tmp_path / "x").exists()


def test_export_refuses_an_existing_tar_unless_overwrite(store: dr.Store, tmp_path: Path) -> None:
    put_image(store)
    tar = tmp_path / "bundle.tar"
    tar.write_bytes(b"keep me")
    with pytest.raises(dr.BlobExists) as info:
        store.export(tar, tar=True)
    assert str(tar) in str(info.value)
    assert tar.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.tar", "store"]  # no partial file left
    report = store.export(tar, tar=True, overwrite=True)
    assert report.tags == ("v1",)
    with tarfile.open(tar) as t:
        assert "index.json" in t.getnames()


def test_incomplete_import_is_refused(store: dr.Store, tmp_path: Path) -> None:
    _, blobs = put_image(store)
    out = tmp_path / "bundle"
    store.export(out)
    layer = blobs[1].split(":")[1]
    os.chmod(out / "blobs" / "sha256" / layer, 0o644)
    (out / "blobs" / "sha256" / layer).unlink()
    other = dr.Store(tmp_path / "other")
    with pytest.raises(dr.ImportRefused):
        other.import_path(out)
    assert other.list() == [] and other.tags() == []
    assert other.import_path(out, require_complete=False).tags == ("v1",)


def test_progress_callback_cancels(store: dr.Store, tmp_path: Path) -> None:
    put_image(store)
    out = tmp_path / "bundle"
    with pytest.raises(dr.Cancelled):
        store.export(out, progress=lambda p: False)
    assert not out.exists() or not any(out.iterdir())

    class Stop(Exception):
        pass

    def boom(p: dr.Progress) -> None:
        raise Stop(p.operation)

    tar = tmp_path / "bundle.tar"
    with pytest.raises(Stop) as info:
        store.export(tar, tar=True, progress=boom)
    assert str(info.value) == "export"
    assert not tar.exists()
    with pytest.raises(Stop):
        store.gc(grace_seconds=0, progress=boom)
    assert len(store.list()) == 3


def test_quota(tmp_path: Path) -> None:
    s = dr.Store(tmp_path / "q", quota=10)
    s.put(b"12345")
    with pytest.raises(dr.QuotaExceeded):
        s.put(b"123456")
    assert len(s.list()) == 1


def test_invalid_layout(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
    with pytest.raises(dr.InvalidLayout) as info:
        dr.Store(root)
    assert info.value.code == "InvalidLayout"


def test_relaxed_store_and_repr(tmp_path: Path) -> None:
    s = dr.Store(tmp_path / "relaxed", durability="relaxed", gc_grace_seconds=0, track_use=False)
    d = s.put(b"cache").digest
    assert s.gc().deleted == (d,)  # grace 0: unreferenced blobs go at once
    assert repr(s) == f"Store({str(tmp_path / 'relaxed')!r})"
    with pytest.raises(ValueError):
        dr.Store(tmp_path / "neg", gc_grace_seconds=-1)


def test_error_hierarchy() -> None:
    store_errors = [
        dr.BlobNotFound,
        dr.BlobExists,
        dr.DigestMismatch,
        dr.InvalidDigest,
        dr.InvalidTag,
        dr.QuotaExceeded,
        dr.NoSpace,
        dr.CorruptBlob,
        dr.InvalidLayout,
        dr.InvalidManifest,
        dr.ImportRefused,
        dr.InvalidUpload,
        dr.Locked,
        dr.Cancelled,
    ]
    for cls in store_errors:
        assert issubclass(cls, dr.StoreError)
        e = cls("message", "Code")
        assert (e.message, e.code, str(e)) == ("message", "Code", "message")
    families: list[type[Exception]] = [
        dr.DocumentError,
        dr.ValidationError,
        dr.FactsError,
        dr.TransitionRefused,
        dr.RenderError,
        dr.ApplyError,
        dr.StoreError,
    ]
    for family in families:
        assert issubclass(family, dr.RegistryError)


def test_store_options_are_the_core_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"invalid store options: durability: unknown variant `fast`"):
        dr.Store(tmp_path / "s", durability="fast")  # type: ignore[arg-type]
    assert not (tmp_path / "s").exists()
    s = dr.Store(tmp_path / "s", upload_ttl_seconds=60, gc_grace_seconds=0)
    d = s.put(b"x").digest
    assert s.gc(grace_seconds=3600).deleted == ()  # the call's grace wins over the store's 0
    assert s.gc().deleted == (d,)


def test_scrub_on_one_thread_finds_the_same(store: dr.Store) -> None:
    put_image(store)
    everywhere = store.scrub(quarantine=False)
    one = store.scrub(quarantine=False, threads=1)
    assert one == everywhere and one.clean and one.checked == 3
