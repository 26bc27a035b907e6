"""The constructs used alone, as a user's own CDK app would: no spec anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def user_stack() -> Any:
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from aws_cdk.assertions import Match, Template

    from skyrelay.constructs.bedrock_access import (
        BedrockModelAccess,
        foundation_model_arn,
        inference_profile_arn,
    )
    from skyrelay.constructs.network import PrivateModelNetwork
    from skyrelay.constructs.observability import ModelObservability

    app = cdk.App()
    stack = cdk.Stack(app, "UserStack", env=cdk.Environment(account="111122223333",
                                                             region="eu-west-1"))
    profile = "eu.amazon.nova-lite-v1:0"
    fms = [foundation_model_arn(r, "amazon.nova-lite-v1:0")
           for r in ("eu-west-1", "eu-central-1", "eu-west-3")]
    profiles = [inference_profile_arn("eu-west-1", "111122223333", profile)]
    net = PrivateModelNetwork(stack, "Net", cidr="10.50.0.0/16",
                              availability_zones=["eu-west-1a", "eu-west-1b"],
                              invoke_arns=profiles + fms)
    access = BedrockModelAccess(stack, "Access", foundation_model_arns=fms,
                                inference_profile_arns=profiles,
                                vpc_endpoint_id=net.bedrock_runtime_endpoint.vpc_endpoint_id)
    role = iam.Role(stack, "AppRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    access.grant_invoke(role)
    ModelObservability(stack, "Obs", model_ids=[profile])
    return Template.from_stack(stack), Match


def test_constructs_do_not_depend_on_the_spec() -> None:
    # constructs/ must stand alone in someone else's app: no module there imports the spec
    # or the views derived from it.
    folder = Path(__file__).resolve().parents[2] / "constructs"
    modules = sorted(folder.rglob("*.py"))
    assert len(modules) >= 7
    for module in modules:
        source = module.read_text()
        assert "skyrelay.spec" not in source and "skyrelay.views" not in source, module


def test_grant_invoke_allows_both_actions_on_the_profile_and_each_region(user_stack: Any) -> None:
    template, match = user_stack
    template.has_resource_properties("AWS::IAM::Policy", {
        "PolicyDocument": {"Statement": [match.object_like({
            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
            "Resource": [
                "arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu.amazon.nova-lite-v1:0",
                "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-lite-v1:0",
                "arn:aws:bedrock:eu-central-1::foundation-model/amazon.nova-lite-v1:0",
                "arn:aws:bedrock:eu-west-3::foundation-model/amazon.nova-lite-v1:0",
            ],
            "Condition": {"StringEquals": {"aws:SourceVpce": match.any_value()}},
        })]},
    })


def test_network_alone_has_no_internet_path(user_stack: Any) -> None:
    template, _ = user_stack
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::VPCEndpoint", 13)
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL"})


def test_wildcard_arns_are_refused() -> None:
    import aws_cdk as cdk

    from skyrelay.constructs.bedrock_access import BedrockModelAccess

    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ValueError, match="no wildcards"):
        BedrockModelAccess(stack, "A",
                           foundation_model_arns=["arn:aws:bedrock:*::foundation-model/*"])
    with pytest.raises(ValueError, match="foundation-model ARNs"):
        BedrockModelAccess(stack, "B", foundation_model_arns=[], inference_profile_arns=[
            "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.x.y-v1:0"])


def test_network_without_models_denies_everything_at_the_endpoint() -> None:
    # No statement would leave the default endpoint policy, which allows everything.
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from skyrelay.constructs.network import PrivateModelNetwork

    stack = cdk.Stack(cdk.App(), "Empty", env=cdk.Environment(region="us-east-1"))
    PrivateModelNetwork(stack, "Net", invoke_arns=[],
                        availability_zones=["us-east-1a", "us-east-1b"],
                        interface_services={"bedrock-runtime": __import__(
                            "aws_cdk.aws_ec2", fromlist=["x"]).InterfaceVpcEndpointAwsService
                            .BEDROCK_RUNTIME})
    template = Template.from_stack(stack).to_json()
    (endpoint,) = [r for r in template["Resources"].values()
                   if r["Type"] == "AWS::EC2::VPCEndpoint"
                   and r["Properties"]["VpcEndpointType"] == "Interface"]
    (statement,) = endpoint["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*"
