"""Shared fixtures for the Azure (Pulumi) tests: the default graph and spec variants."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay.pulumi.offline import ResourceGraph, run_offline

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT / "examples" / "platform.yaml"



@pytest.fixture(scope="session")
def default_graph() -> ResourceGraph:
    """The default spec's resource graph (the program run once under mocks)."""
    return run_offline(DEFAULT_SPEC)


@pytest.fixture(scope="session")
def default_spec_dict() -> dict[str, Any]:
    """The default spec as plain YAML data, to derive variants from."""
    data: dict[str, Any] = yaml.safe_load(DEFAULT_SPEC.read_text())
    return data


@pytest.fixture
def write_spec(tmp_path: Path, default_spec_dict: dict[str, Any]
               ) -> Callable[[Callable[[dict[str, Any]], None]], Path]:
    """Write a variant of the default spec: ``write_spec(lambda d: ...)`` -> its path."""
    import copy

    def make(mutate: Callable[[dict[str, Any]], None]) -> Path:
        data = copy.deepcopy(default_spec_dict)
        mutate(data)
        path = tmp_path / "variant.yaml"
        # Keep model versions such as 2024-11-20 strings (the loader reads dates as text).
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make
