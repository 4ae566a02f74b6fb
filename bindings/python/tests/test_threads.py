"""One Store object shared by many threads (the GIL is released during store I/O)."""

from __future__ import annotations

import faulthandler
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import deckhouse_registry as dr

THREADS = 8
PER_THREAD = 40


def test_threads_put_and_get_through_one_store(store: dr.Store) -> None:
    shared = os.urandom(50_000)  # every thread stores this one too

    def work(n: int) -> list[tuple[str, bytes, bool]]:
        out = []
        for i in range(PER_THREAD):
            data = f"thread {n} blob {i} ".encode() * (i + 1)
            if i % 3 == 0:
                w = store.writer()
                w.write(data[: len(data) // 2])
                w.write(data[len(data) // 2 :])
                r = w.commit()
            else:
                r = store.put(data)
            assert r.digest == "sha256:" + hashlib.sha256(data).hexdigest()
            assert store.get(r.digest) == data
            assert store.read_range(r.digest, 1, 5) == data[1:6]
            out.append((r.digest, data, r.created))
        s = store.put(shared)
        out.append((s.digest, shared, s.created))
        return out

    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for rs in pool.map(work, range(THREADS)) for r in rs]

    digests = {d for d, _, _ in results}
    assert len(digests) == THREADS * PER_THREAD + 1
    assert set(store.list()) == digests
    shared_digest = "sha256:" + hashlib.sha256(shared).hexdigest()
    # first writer wins: exactly one thread created the shared blob
    assert sum(created for d, _, created in results if d == shared_digest) == 1
    for d, data, _ in results:
        assert store.stat(d).size == len(data)
    assert store.scrub(quarantine=False).clean


def test_threads_share_one_writer(store: dr.Store) -> None:
    chunk = b"z" * 4096
    w = store.writer()

    def write(_: int) -> int:
        return sum(w.write(chunk) for _ in range(25))

    with ThreadPoolExecutor(4) as pool:
        total = sum(pool.map(write, range(4)))
    assert total == w.written == 4 * 25 * len(chunk)
    r = w.commit()
    assert r.digest == "sha256:" + hashlib.sha256(chunk * 100).hexdigest()


def test_progress_callbacks_from_threads(store: dr.Store) -> None:
    for i in range(20):
        store.put(f"loose {i}".encode())
    events: list[dr.Progress] = []

    def run(_: int) -> dr.ScrubReport:
        return store.scrub(quarantine=False, progress=events.append)

    with ThreadPoolExecutor(3) as pool:
        reports = list(pool.map(run, range(3)))
    assert all(r.checked == 20 and r.clean for r in reports)
    assert events and all(e.operation == "scrub" for e in events)


def test_store_io_releases_the_gil(store: dr.Store, tmp_path: Path) -> None:
    """A put from a FIFO blocks inside Rust until this thread, running Python, writes to it:
    it can only finish if the GIL was released. (faulthandler ends the run if it deadlocks.)"""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = b"through the pipe" * 1000
    results: list[dr.PutOutcome] = []
    faulthandler.dump_traceback_later(120, exit=True)
    try:
        t = threading.Thread(target=lambda: results.append(store.put(fifo)))
        t.start()
        with open(fifo, "wb") as w:  # blocks until the other thread opened the FIFO inside Rust
            w.write(data)
        t.join()
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert results == [dr.PutOutcome(digest="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data), created=True)]
