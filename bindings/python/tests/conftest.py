"""Shared fixtures: the repository's example configs are the inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

import deckhouse_registry as dr

CONFIGS = Path(__file__).resolve().parents[3] / "examples" / "configs"


def config(name: str) -> Path:
    """The path of an example config."""
    return CONFIGS / name


@pytest.fixture
def facts() -> dr.ClusterFacts:
    """examples/configs/cluster.yaml: static, three masters, module CA and read-only user."""
    return dr.load_facts(config("cluster.yaml"))


@pytest.fixture
def store(tmp_path: Path) -> dr.Store:
    """An empty store in a temporary folder."""
    return dr.Store(tmp_path / "store")
