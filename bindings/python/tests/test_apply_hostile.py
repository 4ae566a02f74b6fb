"""apply with hostile input: rendered sets as JSON-like dicts, state file entries, symlinks.
Nothing outside the root may change."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import config

import deckhouse_registry as dr
from deckhouse_registry import _native, _wire

HOSTS_DIR = "/etc/containerd/registry.d"


def snapshot(base: Path) -> dict[str, str]:
    """Every entry below ``base``, links not followed: relative path → kind and contents."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(base))
            if p.is_symlink():
                out[rel] = f"link {os.readlink(p)}"
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = f"file {p.read_bytes()!r}"
    return out


def wire(
    config_path: str = HOSTS_DIR, host_dirs: list[str] | None = None, paths: tuple[str, ...] = ()
) -> _wire.Rendered:
    files: list[_wire.RenderedFile] = [{"path": p, "contents": "owned", "mode": "0644"} for p in paths]
    return {"version": "v", "configPath": config_path, "hostDirs": host_dirs or [], "files": files, "warnings": []}


@pytest.mark.parametrize(
    ("rendered", "named"),
    [
        (wire(paths=("/../x",)), "/../x"),
        (wire(paths=(f"{HOSTS_DIR}/../../../../x",)), "../../../../x"),
        (wire(paths=("/etc/sudoers.d/x",)), "/etc/sudoers.d/x"),
        (wire(paths=(f"{HOSTS_DIR}/a\x00b/hosts.toml",)), "NUL"),
        (wire(host_dirs=["../../../.."]), "../../../.."),
        (wire(config_path="/etc/../.."), "/etc/../.."),
    ],
)
def test_a_hostile_set_is_refused_and_nothing_changes(tmp_path: Path, rendered: _wire.Rendered, named: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "x").write_text("keep")
    before = snapshot(tmp_path)
    with pytest.raises(dr.ApplyError) as info:
        _native.apply(rendered, os.fspath(root))
    assert named in str(info.value) and "refused" in str(info.value)
    assert snapshot(tmp_path) == before


def test_a_link_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "etc").mkdir(parents=True)
    outside.mkdir()
    (root / "etc" / "containerd").symlink_to(outside)
    r = dr.render(dr.load_settings(config("direct.yaml")))
    before = snapshot(tmp_path)
    with pytest.raises(dr.ApplyError, match="symbolic link"):
        dr.apply(r, root)
    assert snapshot(tmp_path) == before


def test_bad_state_entries_are_warnings_and_stay(tmp_path: Path) -> None:
    hosts = tmp_path / HOSTS_DIR.lstrip("/")
    (hosts / "not a host").mkdir(parents=True)
    (hosts / "deckhouse_hosts_state.json").write_text(json.dumps(["not a host", "../../x"]))
    r = dr.render(dr.load_settings(config("direct.yaml")))
    report = dr.apply(r, tmp_path)
    assert len(report.warnings) == 2
    assert '"not a host"' in report.warnings[0] and '"../../x"' in report.warnings[1]
    assert (hosts / "not a host").is_dir()
