"""Snapshot of every template of the default spec (asset hashes normalized).

A snapshot alone proves nothing about correctness (test_aws_templates.py says why each
property matters); it shows every change to the infrastructure in review.
Update with: pytest tests/stacks/test_aws_snapshots.py --snapshot-update
"""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

STACKS = [
    f"acme-ai-{region}-{kind}"
    for region in ("us-east-1", "eu-central-1")
    for kind in ("network", "bedrock", "observability")
] + ["acme-ai-us-east-1-fine-tuning"]


@pytest.fixture
def snapshot_json(snapshot: Any) -> Any:
    return snapshot.use_extension(JSONSnapshotExtension)


def test_the_default_spec_makes_exactly_these_stacks(platform: Any) -> None:
    # Both regions get network, Bedrock and observability stacks; only us-east-1 has a job.
    # Both are gateway regions: their gateway stacks are snapshotted in tests/e2e/deploy.
    gateways = [f"acme-ai-{region}-gateway" for region in ("us-east-1", "eu-central-1")]
    assert sorted(platform.templates) == sorted(STACKS + gateways)


@pytest.mark.parametrize("stack", STACKS)
def test_template_snapshot(platform: Any, cfn: Any, snapshot_json: Any, stack: str) -> None:
    assert cfn.normalize_assets(platform.templates[stack]) == snapshot_json


def test_asset_hashes_are_normalized(platform: Any, cfn: Any) -> None:
    # The invocation-logging handler is an asset: its S3 key carries the content hash, which
    # must not reach the snapshot (a comment change in the handler is not infrastructure).
    bedrock = platform.template("bedrock", "us-east-1")
    (fn,) = cfn.resources(bedrock, "AWS::Lambda::Function").values()
    key = fn["Properties"]["Code"]["S3Key"]
    assert key != cfn.normalize_assets(key) == "<asset-hash>.zip"
