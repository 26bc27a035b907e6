"""Snapshot of the default spec's Azure resource graph (the offline plan's JSON).

A snapshot alone proves nothing: test_azure_security.py and test_azure_deployments.py say
why each property matters. This one catches any unreviewed change to what gets built.
Update with: pytest tests/pulumi/test_azure_snapshot.py --snapshot-update
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from skyrelay.pulumi.offline import FORMAT, ResourceGraph, write_offline_plan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def snapshot_json(snapshot: Any) -> Any:
    return snapshot.use_extension(JSONSnapshotExtension)


def _portable(document: dict[str, Any]) -> dict[str, Any]:
    """Drop the machine-specific spec path so the snapshot is the same on every clone."""
    doc = dict(document)
    doc["spec"] = "examples/platform.yaml"
    doc["config"] = {**doc["config"], "spec": "examples/platform.yaml"}
    return doc


def test_default_graph_snapshot(default_graph: ResourceGraph, snapshot_json: Any) -> None:
    assert _portable(default_graph.as_dict()) == snapshot_json


def test_written_plan_is_the_graph_and_complete(default_graph: ResourceGraph,
                                                tmp_path: Path) -> None:
    out = write_offline_plan(ROOT / "examples" / "platform.yaml", tmp_path / "o" / "plan.json")
    written = json.loads(out.read_text())
    assert written["format"] == FORMAT
    assert _portable(written) == _portable(default_graph.as_dict())
    assert [p.name for p in out.parent.iterdir()] == ["plan.json"]  # no temporary left
    assert written["placeholders"] == ["gatewayEgressIps", "gatewayPrincipalId"]
