"""merge_config: the config.toml part merged into a main config.toml (containerd 1.x)."""

from __future__ import annotations

import pytest

import deckhouse_registry as dr


def test_merge_config() -> None:
    main = 'version = 2\n# pause\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "pause:3.9"\n'
    part = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/registry.d"\n'
    merged = dr.merge_config(main, part)
    assert merged.startswith("version = 2\n# pause\n")
    assert 'sandbox_image = "pause:3.9"' in merged and 'config_path = "/etc/containerd/registry.d"' in merged
    for bad_main, bad_part, named in [("version = 3\n", part, "version 3"), ("[x\n", part, "main config"), (main, "x = ", "part")]:
        with pytest.raises(dr.DocumentError, match=named):
            dr.merge_config(bad_main, bad_part)
