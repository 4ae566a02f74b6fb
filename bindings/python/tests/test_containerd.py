"""Node configuration: render, apply, preflight, cleanup, RenderError and ApplyError."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import config

import deckhouse_registry as dr

HOSTS_DIR = "/etc/containerd/registry.d"
VIRTUAL_HOSTS = f"{HOSTS_DIR}/registry.d8-system.svc:5001/hosts.toml"


def load(name: str) -> dr.Settings:
    return dr.load_settings(config(name))


def test_direct_hosts_toml() -> None:
    r = dr.render(load("direct.yaml"), containerd="v2")
    hosts = r.file(VIRTUAL_HOSTS)
    # Direct maps the virtual address straight to the upstream, rewriting the path
    assert '[host."https://registry.deckhouse.io"]' in hosts.contents
    assert 'replace = "deckhouse/ee"' in hosts.contents
    assert hosts.mode == 0o600  # it holds the credentials
    assert r.config_path == HOSTS_DIR
    assert r.host_dirs == ("registry.d8-system.svc:5001",)
    assert [f.path for f in r.files] == sorted(f.path for f in r.files)
    assert len(r.version) == 64 and len(r.model_version) == 64
    assert "example-license-key" not in repr(r)
    with pytest.raises(KeyError):
        r.file("/nope")


def test_rendering_is_deterministic(facts: dr.ClusterFacts) -> None:
    a = dr.render(load("proxy.yaml"), facts=facts, containerd="v2")
    b = dr.render(load("proxy.yaml"), facts=facts, containerd="v2")
    assert a == b
    v1 = dr.render(load("proxy.yaml"), facts=facts, containerd="v1")
    # same model, other options
    assert v1.model_version == a.model_version and v1.version != a.version


def test_proxy_renders_the_node_load_balancer(facts: dr.ClusterFacts) -> None:
    r = dr.render(load("proxy.yaml"), facts=facts, containerd="v2")
    nginx = r.file("/etc/kubernetes/registry-proxy/nginx.conf")
    for ip in ("10.0.0.10", "10.0.0.11", "10.0.0.12"):  # the three masters
        assert ip in nginx.contents
    assert "10.0.0.20" not in nginx.contents  # a worker
    assert nginx.mode == 0o640


def test_transition_phase_keeps_the_previous_mirror(facts: dr.ClusterFacts) -> None:
    final = dr.render(load("proxy.yaml"), facts=facts, containerd="v2")
    transition = dr.render(load("proxy.yaml"), load("direct.yaml"), facts, containerd="v2")
    assert "registry.deckhouse.io" not in final.file(VIRTUAL_HOSTS).contents
    assert "registry.deckhouse.io" in transition.file(VIRTUAL_HOSTS).contents
    assert transition.model_version != final.model_version


def test_render_refuses_a_refused_switch_unless_skipped(facts: dr.ClusterFacts) -> None:
    # Local -> Proxy is refused (it goes through Direct or Unmanaged), so is its transition render.
    with pytest.raises(dr.TransitionRefused) as info:
        dr.render(load("proxy.yaml"), load("local.yaml"), facts, containerd="v2")
    assert info.value.codes == ["TransitionNotSupported"]
    skipped = dr.render(load("proxy.yaml"), load("local.yaml"), facts, containerd="v2", switch_check="skip")
    assert skipped.file(VIRTUAL_HOSTS).path == VIRTUAL_HOSTS
    with pytest.raises(ValueError, match=r"invalid render options: switchCheck: unknown variant `maybe`"):
        dr.render(load("direct.yaml"), switch_check="maybe")  # type: ignore[arg-type]


def test_a_bad_option_word_names_its_key() -> None:
    with pytest.raises(ValueError, match=r"invalid render options: dialect: unknown variant `klingon`"):
        dr.render(load("direct.yaml"), dialect="klingon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"invalid render options: version: .*1\.2"):
        dr.render(load("direct.yaml"), version="1.2")


def test_render_errors(facts: dr.ClusterFacts) -> None:
    with pytest.raises(dr.RenderError) as info:
        dr.render(load("proxy.yaml"))  # default facts: no module CA, no read-only user
    assert info.value.kind == "MissingInput"
    with pytest.raises(dr.RenderError) as info:
        dr.render(load("direct.yaml"), dialect="upstream")  # stock containerd cannot rewrite paths
    assert info.value.kind == "Refused"
    with pytest.raises(dr.RenderError) as info:
        dr.render(load("direct.yaml"), containerd="v1", version="2.2")
    assert info.value.kind == "InvalidOptions"
    assert isinstance(info.value, dr.RegistryError)
    with pytest.raises(ValueError):
        dr.render(load("direct.yaml"), dialect="klingon")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        dr.render(load("direct.yaml"), containerd="v3")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        dr.render(load("direct.yaml"), version="1.2")


def test_upstream_dialect_without_rewrite() -> None:
    r = dr.render(load("unmanaged.yaml"), containerd="v2", dialect="upstream")
    assert "harbor.example.com" in r.host_dirs


def test_apply_writes_only_changes_and_cleans_up(tmp_path: Path, facts: dr.ClusterFacts) -> None:
    root = tmp_path / "node"
    direct = dr.render(load("direct.yaml"), containerd="v2")
    first = dr.apply(direct, root)
    assert set(first.changed) == {f.path for f in direct.files}
    assert first.removed == ()
    for f in direct.files:
        on_disk = root / f.path.lstrip("/")
        assert on_disk.read_text() == f.contents
        assert stat.S_IMODE(on_disk.stat().st_mode) == f.mode
    again = dr.apply(direct, root)
    assert again.changed == () and again.removed == () and not again.restart_containerd

    unmanaged = dr.render(load("unmanaged.yaml"), containerd="v2")
    switched = dr.apply(unmanaged, root)
    stale = set(direct.host_dirs) - set(unmanaged.host_dirs)
    assert stale  # the virtual host is not written in Unmanaged mode
    assert set(switched.removed) >= {f"{HOSTS_DIR}/{d}" for d in stale}
    for d in stale:
        assert not (root / HOSTS_DIR.lstrip("/") / d).exists()


def test_apply_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = dr.render(load("direct.yaml"))
    with pytest.raises(dr.ApplyError) as info:
        dr.apply(r, blocker)
    assert isinstance(info.value, OSError) and isinstance(info.value, dr.RegistryError)
    assert str(blocker) in str(info.value)


def test_preflight(tmp_path: Path) -> None:
    etc = tmp_path / "etc-containerd"
    etc.mkdir()
    assert dr.preflight(etc) == dr.PreflightReport(findings=(), unreadable=(), has_custom_registry_config=False)
    (etc / "conf.d").mkdir(parents=True)
    (etc / "conf.d" / "10-other.toml").write_text('[plugins."io.containerd.grpc.v1.cri"]\nsandbox_image = "x"\n')
    assert not dr.preflight(etc).has_custom_registry_config
    (etc / "conf.d" / "50-mirror.toml").write_text(
        '# my mirror\n[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\nendpoint = ["https://m"]\n'
    )
    (etc / "conf2.d").mkdir()
    (etc / "conf2.d" / "broken.toml").write_text("[[[\n")
    report = dr.preflight(os.fspath(etc))
    assert report.has_custom_registry_config
    assert report.findings == (
        dr.PreflightFinding(file="conf.d/50-mirror.toml", line=2, key='plugins."io.containerd.grpc.v1.cri".registry'),
    )
    assert [u.file for u in report.unreadable] == ["conf2.d/broken.toml"]


def test_cleanup_plan() -> None:
    plan = dr.stale_host_dirs(["a", "b", "../etc"], ["b"])
    assert plan == dr.CleanupPlan(remove=("a",), ignored=("../etc",))
    assert dr.stale_host_dirs([], ["x"]) == dr.CleanupPlan(remove=(), ignored=())
