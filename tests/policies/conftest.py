"""Shared fixtures for the policy tests: the default spec synthesized once per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT / "examples" / "platform.yaml"


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``skyrelay synth`` of the default spec (CDK templates + azure-plan.json), once."""
    from skyrelay.synth import run_synth

    out = tmp_path_factory.mktemp("policies") / "cdk.out"
    run_synth(DEFAULT_SPEC, out, project_root=ROOT)
    return out


@pytest.fixture(scope="session")
def azure_plan(synth_dir: Path) -> dict[str, Any]:
    """The default spec's Azure resource graph under mocks."""
    return json.loads((synth_dir / "azure-plan.json").read_text())
