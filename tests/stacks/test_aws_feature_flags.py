"""The CDK feature flags in cdk.json: what a current ``cdk init`` writes, and what they change.

The repository's cdk.json (what ``cdk synth`` and ``skyrelay synth`` here use) carries every
flag of aws-cdk-lib's ``recommended-feature-flags.json``, the set ``cdk init`` writes (and
``skyrelay init`` copies). The default spec is synthesized with and without them; the
differing resources and properties are a snapshot (docs/cdk-feature-flags.md explains
them), and the assertions pin the changes that matter for this toolkit.
Update with: pytest tests/stacks/test_aws_feature_flags.py --snapshot-update
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def flagged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The default spec's templates synthesized with cdk.json's context (flags included)."""
    import aws_cdk as cdk

    from skyrelay.cdk_app import compose_app
    from skyrelay.spec import load_spec

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("flags")), context={
        k: v for k, v in context.items() if not k.startswith("skyrelay:")})
    compose_app(load_spec(REPO / "examples" / "platform.yaml"), app, checks=False)
    return {s.stack_name: s.template for s in app.synth().stacks}


def _diff(before: dict[str, dict[str, Any]],
          after: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """stack -> logical id -> the properties (or resource attributes) that differ."""
    out: dict[str, dict[str, list[str]]] = {}
    for stack in sorted(set(before) | set(after)):
        a = before.get(stack, {}).get("Resources", {})
        b = after.get(stack, {}).get("Resources", {})
        changes: dict[str, list[str]] = {}
        for lid in sorted(set(a) | set(b)):
            if lid not in a or lid not in b:
                changes[lid] = ["(added)" if lid in b else "(removed)"]
                continue
            ra, rb = a[lid], b[lid]
            pa, pb = ra.get("Properties", {}), rb.get("Properties", {})
            keys = sorted(k for k in set(pa) | set(pb) if pa.get(k) != pb.get(k))
            keys += sorted(f"@{k}" for k in set(ra) | set(rb)
                           if k != "Properties" and ra.get(k) != rb.get(k))
            if keys:
                changes[f"{lid} ({rb['Type']})"] = keys
        if changes:
            out[stack] = changes
    return out


def test_cdk_json_carries_every_flag_cdk_init_writes() -> None:
    from skyrelay.init_project import recommended_feature_flags

    context = json.loads((REPO / "cdk.json").read_text())["context"]
    flags = recommended_feature_flags()
    assert len(flags) > 50  # the real list, not an empty stand-in
    assert {k: context.get(k) for k in flags} == flags
    assert context["skyrelay:spec"] == "examples/platform.yaml"


def test_what_the_flags_change_in_the_default_platform(platform: Any, flagged: Any,
                                                       snapshot: Any) -> None:
    # ``platform`` is the same spec synthesized without any flag (CDK's old defaults).
    diff = _diff(platform.templates, flagged)
    assert diff == snapshot.use_extension(JSONSnapshotExtension)
    gateway = "acme-ai-us-east-1-gateway"
    # @aws-cdk/core:defaultCrossStackReferences=weak: references between the region's
    # stacks become Fn::GetStackOutput instead of exports, so a producer stack can change
    # an output without first removing its consumers.
    text = json.dumps(flagged[gateway])
    assert "Fn::GetStackOutput" in text and "Fn::ImportValue" not in text
    assert "Fn::ImportValue" in json.dumps(platform.templates[gateway])
    # @aws-cdk/aws-ecs:disableExplicitDeploymentControllerForCircuitBreaker and
    # removeDefaultDeploymentAlarm: the service keeps its circuit breaker with rollback.
    service = next(r for r in flagged[gateway]["Resources"].values()
                   if r["Type"] == "AWS::ECS::Service")
    assert service["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True, "Rollback": True}
    # @aws-cdk/core:enablePartitionLiterals: ARNs in a known region name their partition.
    assert '"arn:aws:ssm:us-east-1:' in text


def test_the_flagged_templates_stay_cfn_lint_clean(flagged: Any, tmp_path: Path) -> None:
    import subprocess
    import sys

    names = ["acme-ai-us-east-1-gateway", "acme-ai-eu-central-1-bedrock",
             "acme-ai-us-east-1-network"]
    paths = []
    for name in names:
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(flagged[name]))
        paths.append(str(path))
    lint = Path(sys.executable).with_name("cfn-lint")
    proc = subprocess.run([str(lint), *paths], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
