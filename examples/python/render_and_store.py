#!/usr/bin/env python3
"""deckhouse_registry from Python: validate a config, plan a switch, render a node's containerd
configuration into a temporary folder, and put/get a blob.

    pip install ./bindings/python
    python examples/python/render_and_store.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import deckhouse_registry as dr

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def main() -> int:
    # 1. Validate: every problem at once, each with a path and a stable code.
    try:
        dr.load_settings(CONFIGS / "invalid.yaml")
    except dr.ValidationError as e:
        print(f"invalid.yaml: {len(e.problems)} problems")
        for p in e.problems:
            print(f"  {p.path}: {p.code}")

    current = dr.load_settings(CONFIGS / "direct.yaml")
    desired = dr.load_settings(CONFIGS / "proxy.yaml")
    facts = dr.load_facts(CONFIGS / "cluster.yaml")
    print(f"desired: {desired.mode} from {desired.upstream.images_repo if desired.upstream else '-'}")
    print(f"repr keeps secrets out: {desired.upstream.credentials if desired.upstream else None}")

    # 2. Plan the switch (or learn why not, and the legal route).
    plan = dr.plan(current, desired, facts)
    print(f"plan {plan.from_mode} -> {plan.to_mode}: {' -> '.join(plan.stages)}")
    try:
        dr.plan(dr.load_settings(CONFIGS / "local.yaml"), desired, facts)
    except dr.TransitionRefused as e:
        print(f"Local -> Proxy refused ({', '.join(e.codes)}); route: {' -> '.join(e.route)}")

    with tempfile.TemporaryDirectory() as tmp:
        # 3. Render the transition-phase configuration for a containerd 2 node and apply it.
        rendered = dr.render(desired, current, facts, containerd="v2")
        report = dr.apply(rendered, Path(tmp) / "node")
        print(f"rendered version {rendered.version[:12]}: wrote {len(report.changed)} files")
        for f in rendered.files:
            print(f"  {f.mode:04o} {f.path}")
        print(f"restart containerd: {report.restart_containerd}")

        # 4. The blob store.
        store = dr.Store(Path(tmp) / "store")
        put = store.put(b"hello, registry")
        assert store.get(put.digest) == b"hello, registry"
        with store.writer() as w:
            w.write(b"streamed ")
            w.write(b"content")
        assert w.result is not None
        print(f"stored {put.digest} ({put.size} bytes) and {w.result.digest} ({w.result.size} bytes)")
        print(f"blobs: {len(store.list())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
