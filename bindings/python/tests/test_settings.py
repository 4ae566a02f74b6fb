"""Settings: every input form, the typed result, redaction, ValidationError and DocumentError."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from conftest import config

import deckhouse_registry as dr

VIRTUAL_BASE = "registry.d8-system.svc:5001/system/deckhouse"


def test_every_input_form_gives_the_same_settings() -> None:
    path = config("direct.yaml")
    text = path.read_text()
    from_path = dr.load_settings(path)
    assert dr.load_settings(str(path)) == from_path
    assert dr.parse_settings(text) == from_path
    assert dr.parse_settings(text.encode()) == from_path
    assert dr.load_settings(text.encode()) == from_path
    as_dict = {
        "apiVersion": "deckhouse.io/v1alpha1",
        "kind": "ModuleConfig",
        "metadata": {"name": "deckhouse"},
        "spec": {
            "version": 1,
            "settings": {
                "registry": {
                    "mode": "Direct",
                    "direct": {
                        "imagesRepo": "registry.deckhouse.io/deckhouse/ee",
                        "scheme": "HTTPS",
                        "license": "example-license-key",
                    },
                }
            },
        },
    }
    assert dr.load_settings(as_dict) == from_path
    assert dr.parse_settings(json.dumps(as_dict)) == from_path


def test_direct_settings_are_typed_and_normalised() -> None:
    s = dr.load_settings(config("direct.yaml"))
    assert s.mode == "Direct"
    assert s.images_base == VIRTUAL_BASE
    assert s.ttl is None
    u = s.upstream
    assert u is not None
    assert (u.host, u.port, u.path, u.scheme) == ("registry.deckhouse.io", None, "/deckhouse/ee", "HTTPS")
    assert u.images_repo == "registry.deckhouse.io/deckhouse/ee"
    assert u.address == "registry.deckhouse.io"
    assert u.check_mode == "Default"
    assert u.credentials is not None
    assert u.credentials.license is not None
    assert u.credentials.license.reveal() == "example-license-key"
    assert u.credentials.username is None and u.credentials.password is None


def test_proxy_settings() -> None:
    s = dr.load_settings(config("proxy.yaml"))
    assert s.mode == "Proxy"
    assert s.ttl == "72h0m0s"
    assert s.images_base == VIRTUAL_BASE
    u = s.upstream
    assert u is not None
    assert (u.host, u.port, u.path) == ("nexus.example.com", 8443, "/dkp/ee")
    assert u.images_repo == "nexus.example.com:8443/dkp/ee"
    assert u.address == "nexus.example.com:8443"
    assert u.ca is not None and u.ca.startswith("-----BEGIN CERTIFICATE-----")
    assert u.credentials == dr.Credentials(username="svc-deckhouse", password=dr.Secret("example-password"))


def test_unmanaged_points_images_at_the_upstream() -> None:
    s = dr.load_settings(config("unmanaged.yaml"))
    assert s.mode == "Unmanaged"
    assert s.upstream is not None
    assert s.upstream.scheme == "HTTP"
    assert s.upstream.check_mode == "Relax"
    assert s.images_base == "harbor.example.com/deckhouse/ee"


def test_local_has_no_upstream() -> None:
    s = dr.load_settings(config("local.yaml"))
    assert (s.mode, s.upstream, s.images_base) == ("Local", None, VIRTUAL_BASE)


def test_legacy_init_configuration_with_docker_config() -> None:
    s = dr.load_settings(config("bootstrap-legacy.yaml"), bootstrap=True)
    assert s.mode == "UnmanagedLegacy"
    assert s.upstream is not None
    assert s.upstream.images_repo == "some-nexus.io:5000/deckhouse/ee"
    # registryDockerCfg is base64 of {"auths":{"some-nexus.io:5000":{"auth": base64("svc:secret")}}}
    assert s.upstream.credentials == dr.Credentials(username="svc", password=dr.Secret("secret"))
    assert "secret'" not in repr(s)


@pytest.mark.parametrize("name,secret", [("direct.yaml", "example-license-key"), ("proxy.yaml", "example-password")])
def test_secrets_are_redacted_in_repr_and_str(name: str, secret: str) -> None:
    s = dr.load_settings(config(name))
    assert secret not in repr(s)
    assert secret not in str(s)
    assert "<redacted>" in repr(s)
    # ... but to_dict is the core's wire shape, secrets included
    creds = s.to_dict()["upstream"]["credentials"]
    assert secret in creds.values()


def test_secret_type() -> None:
    a = dr.Secret("hunter2")
    assert (repr(a), str(a)) == ("Secret('<redacted>')", "<redacted>")
    assert a == dr.Secret("hunter2") and a != dr.Secret("other")
    assert hash(a) == hash(dr.Secret("hunter2"))
    assert f"{a}" == "<redacted>"


def test_invalid_config_reports_every_problem() -> None:
    with pytest.raises(dr.ValidationError) as info:
        dr.load_settings(config("invalid.yaml"))
    e = info.value
    # invalid.yaml breaks these rules, one per line below the mode
    assert set(e.codes) == {
        "SectionNotAllowed",  # a direct section under mode Proxy
        "InvalidPort",  # :70000
        "InvalidPath",  # /../
        "CaWithHttp",  # ca with scheme HTTP
        "InvalidCa",  # "not a certificate"
        "ConflictingCredentials",  # license with username
        "IncompleteCredentials",  # username without password
        "TtlTooShort",  # 90s < 5m
    }
    by_code = {p.code: p for p in e.problems}
    assert by_code["TtlTooShort"].path == "spec.settings.registry.proxy.ttl"
    assert by_code["SectionNotAllowed"].path == "spec.settings.registry.direct"
    assert all(isinstance(p, dr.Problem) and p.message for p in e.problems)
    assert "example-license-key" not in str(e)
    assert isinstance(e, dr.RegistryError) and isinstance(e, ValueError)


def test_bootstrap_rules() -> None:
    with pytest.raises(dr.ValidationError) as info:
        dr.load_settings(config("proxy.yaml"), bootstrap=True)
    assert info.value.codes == ["ModeNotAllowedAtBootstrap"]
    assert info.value.problems[0].path == "spec.settings.registry.mode"
    assert dr.load_settings(config("direct.yaml"), bootstrap=True).mode == "Direct"


@pytest.mark.parametrize(
    "text",
    [
        "key: [unclosed",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        "- just\n- a list\n",
    ],
)
def test_unusable_input_is_a_document_error(text: str) -> None:
    with pytest.raises(dr.DocumentError) as info:
        dr.parse_settings(text)
    assert isinstance(info.value, dr.RegistryError) and isinstance(info.value, ValueError)
    assert info.value.message == str(info.value)


def test_wrong_source_type() -> None:
    with pytest.raises(TypeError):
        dr.load_settings(42)  # type: ignore[arg-type]


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        dr.load_settings(tmp_path / "nope.yaml")


def test_cluster_facts(facts: dr.ClusterFacts) -> None:
    assert facts.cluster_type == "Static"
    assert facts.bootstrapped and not facts.managed_kubernetes
    assert [n.name for n in facts.nodes] == ["master-0", "master-1", "master-2", "worker-0"]
    assert [n.cri for n in facts.nodes] == ["Containerd", "Containerd", "ContainerdV2", "ContainerdV2"]
    assert facts.nodes[3].role == "worker" and facts.nodes[0].ip == "10.0.0.10"
    assert facts.read_only_user == "ro"
    assert "example-ro-password" not in repr(facts)


def test_cluster_facts_defaults() -> None:
    f = dr.load_facts({})
    assert (f.cluster_type, f.bootstrapped, f.managed_kubernetes) == ("Static", True, False)
    assert [n.name for n in f.nodes] == ["master-0"]


def test_facts_errors() -> None:
    with pytest.raises(dr.FactsError) as info:
        dr.load_facts({"nodes": [{"name": "a"}, {"name": "a"}]})
    assert info.value.path == "nodes[1].name"
    with pytest.raises(dr.FactsError):
        dr.load_facts({"unknownKey": 1})
    with pytest.raises(dr.DocumentError):
        dr.parse_facts("a: [")


def test_errors_survive_pickling() -> None:
    with pytest.raises(dr.ValidationError) as info:
        dr.load_settings(config("invalid.yaml"))
    copy = pickle.loads(pickle.dumps(info.value))
    assert isinstance(copy, dr.ValidationError)
    assert copy.problems == info.value.problems and str(copy) == str(info.value)


def test_version() -> None:
    assert dr.__version__ == "0.1.0"
