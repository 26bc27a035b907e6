"""The cdk-nag pack: the default spec's app passes; careless resources are flagged by rule id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _findings(app: Any) -> dict[str, list[str]]:
    from skyrelay.policies.nag_pack import SkyrelayChecks

    report = SkyrelayChecks(app).validate_scope(app)
    return {v.rule_name: [r.construct_path for r in v.violating_resources]
            for v in report.violations}


def test_careless_resources_are_flagged_with_rule_and_path() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_s3 as s3

    app = cdk.App()
    stack = cdk.Stack(app, "Careless")
    logs.LogGroup(stack, "Logs")
    s3.Bucket(stack, "Plain", removal_policy=cdk.RemovalPolicy.DESTROY)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=["*"]))
    found = _findings(app)
    assert found["Skyrelay-SKY-AWS-003"] == ["Careless/Logs/Resource"]
    assert found["Skyrelay-SKY-AWS-004"] == ["Careless/Plain/Resource"]
    assert found["Skyrelay-SKY-AWS-001"] == ["Careless/Role/DefaultPolicy/Resource"]
    assert found["Skyrelay-SKY-AWS-002"] == ["Careless/Role/DefaultPolicy/Resource"]
    report_text = str(found)
    assert "SKY-AWS-005" not in report_text


def test_default_spec_app_passes_the_pack() -> None:
    from skyrelay.cdk_app import compose_app
    from skyrelay.spec import load_spec

    app = compose_app(load_spec(REPO / "examples" / "platform.yaml"), checks=False)
    assert _findings(app) == {}
    # not vacuous: the pack does walk the real stacks (a stripped key is caught by path)
    from aws_cdk import aws_logs as logs

    group = next(c for c in app.node.find_all() if isinstance(c, logs.CfnLogGroup))
    group.kms_key_id = None
    assert _findings(app) == {"Skyrelay-SKY-AWS-003": [group.node.path]}
