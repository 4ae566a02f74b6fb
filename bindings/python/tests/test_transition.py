"""Switch planning: allowed plans and TransitionRefused."""

from __future__ import annotations

import pytest
from conftest import config

import deckhouse_registry as dr


def load(name: str) -> dr.Settings:
    return dr.load_settings(config(name))


def test_local_to_proxy_is_refused_with_a_route(facts: dr.ClusterFacts) -> None:
    with pytest.raises(dr.TransitionRefused) as info:
        dr.plan(load("local.yaml"), load("proxy.yaml"), facts)
    e = info.value
    assert e.codes == ["TransitionNotSupported"]
    # Local and Proxy switch only through Direct or Unmanaged; Direct comes first
    assert e.route == ["Local", "Direct", "Proxy"]
    assert (e.from_mode, e.to_mode) == ("Local", "Proxy")
    assert all(isinstance(r, dr.Reason) for r in e.reasons)
    assert isinstance(e, dr.RegistryError)


def test_direct_to_proxy_is_planned(facts: dr.ClusterFacts) -> None:
    plan = dr.plan(load("direct.yaml"), load("proxy.yaml"), facts)
    assert (plan.from_mode, plan.to_mode) == ("Direct", "Proxy")
    assert plan.stages == (
        "RegistryContainsRequiredImages",
        "ContainerdConfigPreflightReady",
        "NodeServicesReady",
        "TransitionContainerdConfigReady",
        "DeckhouseRegistrySwitchReady",
        "FinalContainerdConfigReady",
        "CleanupInClusterProxy",
    )
    # both managed: image references keep pointing at the virtual address
    assert plan.restarts == ("Deckhouse",)
    assert any("/opt/deckhouse/registry" in w for w in plan.warnings)


def test_managed_to_unmanaged_restarts_every_component(facts: dr.ClusterFacts) -> None:
    plan = dr.plan(load("direct.yaml"), load("unmanaged.yaml"), facts)
    assert plan.restarts == ("Deckhouse", "AllPlatformComponents")
    assert plan.stages[-2:] == ("CleanupNodeServices", "CleanupInClusterProxy")
    assert any("checkMode Relax" in w for w in plan.warnings)


def test_no_change_means_nothing_to_do() -> None:
    s = load("direct.yaml")
    plan = dr.plan(s, s)
    assert plan.stages == () and plan.restarts == ()
    assert plan.warnings == ("the registry settings do not change; nothing to do",)


def test_proxy_needs_a_static_cluster() -> None:
    cloud = dr.load_facts(config("cluster-cloud.yaml"))
    with pytest.raises(dr.TransitionRefused) as info:
        dr.plan(load("direct.yaml"), load("proxy.yaml"), cloud)
    assert "ClusterNotStatic" in info.value.codes


def test_changes_wait_for_bootstrap() -> None:
    facts = dr.load_facts({"bootstrapped": False})
    with pytest.raises(dr.TransitionRefused) as info:
        dr.plan(load("direct.yaml"), load("unmanaged.yaml"), facts)
    assert "BootstrapInProgress" in info.value.codes


def test_refusal_message_lists_reasons(facts: dr.ClusterFacts) -> None:
    with pytest.raises(dr.TransitionRefused) as info:
        dr.plan(load("local.yaml"), load("proxy.yaml"), facts)
    assert "TransitionNotSupported" in str(info.value)
