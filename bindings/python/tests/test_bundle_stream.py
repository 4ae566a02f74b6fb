"""Store.import_bundle_stream: a bundle tar read from a binary stream (a file, io.BytesIO, a
socket with short reads, gzip) imports with the same report as the path import of that tar; a
stream whose read raises stops the import, the same exception comes back and the store is
unchanged on disk; objects that are not binary streams are refused by name."""

from __future__ import annotations

import gzip
import io
import os
import socket
import threading
from pathlib import Path

import pytest

import deckhouse_registry as dr

from test_bundle import new_store, put_image


def bundle_tar(tmp_path: Path) -> tuple[Path, str]:
    """A bundle exported from a store with two images; returns its platform.tar and v1."""
    src = new_store(tmp_path, "src")
    v1, _ = put_image(src, "v1", b"stream-layer-one")
    put_image(src, "v2", b"stream-layer-two" * 1000)
    src.export_bundle(tmp_path / "bundle")
    return tmp_path / "bundle" / "platform.tar", v1


def tree(root: Path) -> list[tuple[str, int]]:
    """Every file and folder under a store root with its size: staging included."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            out.append((str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1))
    return sorted(out)


class ShortReads:
    """Only read(n), at most `most` bytes a call (a socket-like object would do the same)."""

    def __init__(self, data: bytes, most: int) -> None:
        self.data, self.most, self.at, self.calls = data, most, 0, 0

    def read(self, size: int, /) -> bytes:
        self.calls += 1
        n = min(size, self.most, len(self.data) - self.at)
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk


class Failing(ShortReads):
    """Raises `error` once `after` bytes were read."""

    def __init__(self, data: bytes, after: int, error: BaseException) -> None:
        super().__init__(data, 4096)
        self.after, self.error = after, error

    def read(self, size: int, /) -> bytes:
        if self.at >= self.after:
            raise self.error
        return super().read(min(size, self.after - self.at))


def test_a_file_bytesio_and_gzip_import_like_the_path(tmp_path: Path) -> None:
    tar, v1 = bundle_tar(tmp_path)
    by_path = new_store(tmp_path, "by-path").import_bundle(tar)
    assert by_path.blobs_added == 5 and by_path.layouts[0].tags == ("v1", "v2")

    with open(tar, "rb") as f:
        from_file = new_store(tmp_path, "file").import_bundle_stream(f, "platform.tar")
    assert from_file == by_path

    calls: list[dr.Progress] = []
    bio = new_store(tmp_path, "bytesio")
    report = bio.import_bundle_stream(io.BytesIO(tar.read_bytes()), "platform.tar", progress=calls.append)
    assert report == by_path and calls
    assert bio.resolve("v1") == v1

    packed = io.BytesIO(gzip.compress(tar.read_bytes()))
    assert new_store(tmp_path, "gzip").import_bundle_stream(packed, "platform.tar") == by_path


def test_short_reads_from_a_socket_and_a_read_only_object(tmp_path: Path) -> None:
    tar, _ = bundle_tar(tmp_path)
    data = tar.read_bytes()
    by_path = new_store(tmp_path, "by-path").import_bundle(tar)

    few = ShortReads(data, 7)
    assert new_store(tmp_path, "short").import_bundle_stream(few, "platform.tar") == by_path
    # Every blob byte came through reads of at most 7 bytes.
    assert few.calls >= by_path.layouts[0].bytes // 7

    # A real socket: the sender writes odd-sized pieces; the raw reader (readinto, no
    # buffering) returns whatever arrived.
    left, right = socket.socketpair()

    def send() -> None:
        with left:
            for i in range(0, len(data), 1021):
                left.sendall(data[i : i + 1021])

    sender = threading.Thread(target=send)
    sender.start()
    with right, right.makefile("rb", buffering=0) as raw:
        report = new_store(tmp_path, "socket").import_bundle_stream(raw, "platform.tar")
    sender.join()
    assert report == by_path


def test_a_failing_read_propagates_and_leaves_the_store_unchanged(tmp_path: Path) -> None:
    tar, _ = bundle_tar(tmp_path)
    data = tar.read_bytes()
    dst = new_store(tmp_path, "dst")
    put_image(dst, "other", b"already-here")
    before, files = (dst.list(), dst.tags()), tree(dst.root)

    boom = OSError(5, "the disk is on fire")
    with pytest.raises(OSError) as caught:
        dst.import_bundle_stream(Failing(data, 3000, boom), "platform.tar")
    assert caught.value is boom
    # Failing on the very first read, and with an exception that is not an OSError.
    with pytest.raises(KeyError) as key:
        dst.import_bundle_stream(Failing(data, 0, KeyError("gone")))
    assert key.value.args == ("gone",)
    # A progress callback is not what stopped it: the stream's exception still wins.
    with pytest.raises(OSError) as again:
        dst.import_bundle_stream(Failing(data, len(data) - 600, boom), progress=lambda p: True)
    assert again.value is boom

    assert (dst.list(), dst.tags()) == before
    assert tree(dst.root) == files
    # The store still works, and the same stream imports when it does not fail (the config
    # "{}" of the image already there is shared).
    report = dst.import_bundle_stream(io.BytesIO(data))
    assert (report.blobs_added, report.blobs_present) == (4, 1)


def test_what_is_not_a_binary_stream_is_refused(tmp_path: Path) -> None:
    tar, _ = bundle_tar(tmp_path)
    dst = new_store(tmp_path, "dst")
    with pytest.raises(TypeError, match="read\\(n\\) or readinto\\(b\\), not bytes"):
        dst.import_bundle_stream(tar.read_bytes())  # type: ignore[arg-type]
    with open(tar, encoding="latin-1") as text, pytest.raises(TypeError, match="returned str, expected bytes"):
        dst.import_bundle_stream(text)  # type: ignore[arg-type]
    with pytest.raises(dr.ImportRefused, match="unexpected end of archive"):
        dst.import_bundle_stream(io.BytesIO(tar.read_bytes()[:2000]), "platform.tar")
    with pytest.raises(ValueError, match="max_expansion_ratio"):
        dst.import_bundle_stream(io.BytesIO(b""), max_expansion_ratio=-1)
    assert dst.list() == [] and dst.tags() == []
