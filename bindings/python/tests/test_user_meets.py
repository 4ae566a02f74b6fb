"""The package as a user meets it: edited results, paths versus text, empty paths, missing
folders, wrong argument types and out-of-range numbers, typed option words, NUL input."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

import pytest
from conftest import config

import deckhouse_registry as dr


def test_replace_on_a_result_is_refused_loudly(facts: dr.ClusterFacts) -> None:
    settings = dr.load_settings(config("direct.yaml"))
    rendered = dr.render(settings, facts=facts)
    for obj, change in (
        (settings, {"mode": "Local"}),
        (facts, {"bootstrapped": False}),
        (rendered, {"files": ()}),
    ):
        with pytest.raises(TypeError, match="cannot be created or edited"):
            dataclasses.replace(obj, **change)
    with pytest.raises(TypeError, match="load_settings"):
        dr.Settings(mode="Local", upstream=None, ttl=None, images_base=None)
    # What the library made is still whole and usable.
    assert settings.mode == "Direct"
    assert dr.render(settings, facts=facts) == rendered


def test_a_str_is_a_path_and_text_has_its_own_function(tmp_path: Path) -> None:
    path = config("local.yaml")
    assert dr.load_settings(str(path)).mode == "Local"
    assert dr.parse_settings(path.read_text()).mode == "Local"
    assert dr.load_facts(str(config("cluster.yaml"))).cluster_type == "Static"
    assert dr.parse_facts("clusterType: Cloud\n").cluster_type == "Cloud"
    with pytest.raises(FileNotFoundError) as info:
        dr.load_settings(path.read_text())
    assert "parse_settings()" in str(info.value) and "as bytes" in str(info.value)
    with pytest.raises(FileNotFoundError, match="parse_facts"):
        dr.load_facts(str(tmp_path / "missing.yaml"))
    with pytest.raises(TypeError, match="parse_settings"):
        dr.parse_settings(42)  # type: ignore[arg-type]


def test_empty_paths_are_refused(tmp_path: Path, facts: dr.ClusterFacts, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(dr.StoreError, match="empty path"):
        dr.Store("")
    rendered = dr.render(dr.load_settings(config("direct.yaml")), facts=facts)
    with pytest.raises(dr.ApplyError, match="empty path"):
        dr.apply(rendered, "")
    with pytest.raises(dr.ApplyError, match="empty path"):
        dr.preflight("")
    assert list(tmp_path.iterdir()) == []


def test_preflight_of_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(dr.ApplyError) as info:
        dr.preflight(missing)
    assert str(missing) in str(info.value)
    assert isinstance(info.value, OSError)
    assert not dr.preflight(tmp_path).has_custom_registry_config


def test_wrong_argument_types_name_the_parameter(facts: dr.ClusterFacts) -> None:
    settings = dr.load_settings(config("direct.yaml"))
    wire: Any = settings.to_dict()
    with pytest.raises(TypeError, match=r"current must be a Settings from load_settings\(\), not dict"):
        dr.plan(wire, settings)
    with pytest.raises(TypeError, match="desired must be a Settings"):
        dr.render(wire)
    with pytest.raises(TypeError, match="previous must be a Settings"):
        dr.render(settings, wire)
    with pytest.raises(TypeError, match="facts must be a ClusterFacts"):
        dr.plan(settings, settings, {"bootstrapped": True})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rendered must be a Rendered"):
        dr.apply({"files": []}, "/tmp/x")  # type: ignore[arg-type]


def test_out_of_range_numbers_name_the_parameter(store: dr.Store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quota must be between 0 and 2\\*\\*64 - 1, not -1"):
        dr.Store(tmp_path / "s", quota=-1)
    with pytest.raises(ValueError, match="quota"):
        dr.Store(tmp_path / "s", quota=1 << 64)
    put = store.put(b"hello")
    with pytest.raises(ValueError, match="offset"):
        store.read_range(put.digest, -1, 2)
    with pytest.raises(ValueError, match="length"):
        store.read_range(put.digest, 0, 1 << 70)
    w = store.writer()
    w.write(b"x")
    with pytest.raises(ValueError, match="expected_size"):
        w.commit(expected_size=-5)
    with pytest.raises(ValueError, match="gc_grace_seconds"):
        dr.Store(tmp_path / "s", gc_grace_seconds=-1)
    with pytest.raises(TypeError, match="gc_grace_seconds must be an int, not float"):
        dr.Store(tmp_path / "s", gc_grace_seconds=1.5)  # type: ignore[arg-type]


def test_option_words_are_literal_types() -> None:
    hints = typing.get_type_hints(dr.render)
    assert hints["containerd"] == typing.Literal["v1", "v2"]
    assert hints["dialect"] == typing.Literal["deckhouse", "upstream"]


def test_nul_bytes_are_not_an_empty_input() -> None:
    with pytest.raises(dr.DocumentError) as info:
        dr.load_settings(b"\0\0\0")
    assert "U+0000" in str(info.value) and "empty" not in str(info.value)
