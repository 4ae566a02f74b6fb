"""One orchestrator step through the Python package.

The expectations come from the rules (DOMAIN.md §6–§11 and the seed), not from the library's
output: the Direct pipeline starts with the image checker, so with no checker status that stage
is False/Processing ("Initializing") and Ready is False ("Transitioning to Direct"); the mode
changes only when the pipeline is done (no state restores Unmanaged); a managed mode gets a CA
and a 25-character HTTP secret; Local⇄Proxy only through Direct or Unmanaged.
"""

from __future__ import annotations

import copy
import string
from datetime import datetime, timedelta, timezone

import pytest

import deckhouse_registry as dr
from deckhouse_registry import _wire

from conftest import config

NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc)
LICENSE = "example-license-key"  # examples/configs/direct.yaml


def direct_inputs() -> _wire.Inputs:
    return {"settings": dr.load_settings(config("direct.yaml"))}


def test_direct_from_no_state_waits_for_the_checker() -> None:
    step = dr.reconcile(None, direct_inputs(), now=NOW, seed=7)
    assert not step["ready"]
    assert step["message"] == "Transitioning to Direct"
    assert step["state"]["conditions"] == [
        {
            "type": "RegistryContainsRequiredImages",
            "status": "False",
            "reason": "Processing",
            "message": "Initializing",
            "lastTransitionTime": "2026-12-01T10:00:00Z",
        },
        {
            "type": "Ready",
            "status": "False",
            "reason": "Processing",
            "message": "Transitioning to Direct",
            "lastTransitionTime": "2026-12-01T10:00:00Z",
        },
    ]
    state = step["state"]
    assert (state["mode"], state["target_mode"]) == ("Unmanaged", "Direct")
    ca = state["pki"]["ca"]
    assert ca["cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert isinstance(ca["key"], dr.Secret) and "PRIVATE KEY" in ca["key"].reveal()
    http = state["secrets"]["http"].reveal()
    assert len(http) == 25 and set(http) <= set(string.ascii_letters + string.digits)

    outputs = step["outputs"]
    assert outputs["pki"]["action"] == "write"
    assert {name: o["action"] for name, o in outputs["users"].items()} == {
        "ro": "delete",
        "rw": "delete",
        "mirror-puller": "delete",
        "mirror-pusher": "delete",
    }
    checker = outputs["checker"]
    assert checker["action"] == "write"
    registry = checker["value"]["registries"]["registry.deckhouse.io"]
    # A license key is sent as user license-token (the seed), and stays a Secret.
    assert registry["address"] == "registry.deckhouse.io/deckhouse/ee"
    assert registry["username"] == "license-token"
    assert isinstance(registry["password"], dr.Secret) and registry["password"].reveal() == LICENSE
    assert (outputs["bashibleConfig"]["action"], outputs["deckhouseRegistry"]["action"]) == ("keep", "keep")
    assert (outputs["registryService"], outputs["ingressEnabled"]) == ("Disabled", False)


def test_the_state_fed_back_gives_the_same_step() -> None:
    first = dr.reconcile(None, direct_inputs(), now=NOW, seed=7)
    assert dr.reconcile(None, direct_inputs(), now=NOW, seed=7) == first
    # Nothing observed changed: an hour later, with another seed, the step is the same (the
    # PKI and HTTP secret are kept, condition times stay).
    state = copy.deepcopy(first["state"])
    second = dr.reconcile(state, direct_inputs(), now=NOW + timedelta(hours=1), seed=99)
    assert second == first


def test_a_refused_switch_is_a_condition_with_the_route() -> None:
    local: _wire.State = {"mode": "Local", "bashible": {"actual_params": {"mode": "Local"}}}
    proxy = dr.load_settings(config("proxy.yaml"))
    step = dr.reconcile(local, {"settings": proxy}, now=NOW, seed=1)
    refusal = next(c for c in step["state"]["conditions"] if c["type"] == "ErrTransitionNotSupported")
    assert (refusal["status"], refusal["reason"]) == ("True", "Error")
    assert refusal["message"].startswith("mode transition from Local to Proxy not supported")
    assert refusal["message"].endswith("route: Local → Direct → Proxy")
    assert not step["ready"] and step["message"] == "Transition to Proxy is not supported"
    assert step["state"]["mode"] == "Local"


def test_secrets_are_redacted_in_repr() -> None:
    step = dr.reconcile(None, direct_inputs(), now=NOW, seed=7)
    key = step["state"]["pki"]["ca"]["key"].reveal()
    http = step["state"]["secrets"]["http"].reveal()
    assert f'"http":"{http}"' in step["registryState"]["state"].reveal()
    for text in (repr(step), str(step)):
        for secret in (key, "PRIVATE KEY", http, LICENSE):
            assert secret not in text


def test_without_options_the_clock_and_the_os_random_source() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    a = dr.reconcile(None, direct_inputs())
    b = dr.reconcile(None, direct_inputs())
    assert a["state"]["secrets"]["http"] != b["state"]["secrets"]["http"]
    at = datetime.strptime(a["state"]["conditions"][0]["lastTransitionTime"], "%Y-%m-%dT%H:%M:%S%z")
    assert before <= at <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_bad_arguments_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"orchestrator inputs: nodes\.n1\.ready"):
        dr.reconcile(None, {"nodes": {"n1": {"ready": "yes"}}})  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="unknown field `clusterr`"):
        dr.reconcile(None, {"clusterr": {}})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(ValueError, match="orchestrator state: registry_service"):
        dr.reconcile({"registry_service": "Elsewhere"}, {}, seed=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        dr.reconcile(None, {}, now=datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="seed must be between 0"):
        dr.reconcile(None, {}, seed=-1)


def test_no_settings_does_nothing() -> None:
    step = dr.reconcile(None, {}, now=NOW, seed=1)
    assert step["state"]["mode"] == "Unmanaged" and step["state"]["conditions"] == []
    assert step["outputs"]["bashibleConfig"]["action"] == "keep"
