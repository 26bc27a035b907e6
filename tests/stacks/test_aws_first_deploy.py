"""What the first real deploy needs beyond a valid template (issue 20): trust policies with
confused-deputy conditions, endpoint policies scoped to this account, fine-tuning jobs that
reach only the VPC endpoints, the Bedrock customization permissions, zones by ID."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from skyrelay.constructs.fine_tuning import BedrockCustomizationJob, FineTuningPipeline
from skyrelay.constructs.network import PrivateModelNetwork

ACCOUNT = "123456789012"
MODEL = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0"

#: Service principals whose trust policy carries no confused-deputy condition, and why.
TRUST_EXCEPTIONS = {
    # Lambda's execution-role page gives the trust policy without conditions and documents
    # no aws:SourceArn/aws:SourceAccount on the AssumeRole it makes for a function:
    # https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html
    # (the invocation-logging handler, and CDK's own custom-resource providers).
    "lambda.amazonaws.com": "not documented for execution roles",
    # The gateway's task roles are constructs/gateway_service.py (issue 20b): the task role
    # has aws:SourceAccount; ECS documents the conditions for task roles, not for the task
    # execution role, so that one is left as is.
    "ecs-tasks.amazonaws.com": "gateway_service.py; task role has aws:SourceAccount",
}


def _services(statement: dict[str, Any]) -> list[str]:
    service = (statement.get("Principal") or {}).get("Service", [])
    return service if isinstance(service, list) else [service]


def test_every_service_trust_policy_names_the_source_account_and_arn(platform: Any,
                                                                    cfn: Any) -> None:
    # Without them any account's job, state machine or flow log could make the service
    # assume this account's role (the confused deputy):
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
    missing, seen = [], set()
    for stack, template in platform.templates.items():
        for logical_id, role in cfn.resources(template, "AWS::IAM::Role").items():
            for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
                for service in _services(statement):
                    seen.add(service)
                    if service in TRUST_EXCEPTIONS:
                        continue
                    condition = json.dumps(statement.get("Condition", {}))
                    if "aws:SourceAccount" not in condition or "aws:SourceArn" not in condition:
                        missing.append(f"{stack}/{logical_id} ({service})")
    assert missing == []
    # The check covered the services the platform's roles trust.
    assert {"sagemaker.amazonaws.com", "states.amazonaws.com", "bedrock.amazonaws.com",
            "vpc-flow-logs.amazonaws.com"} <= seen


def _allows_everyone_everything(statement: dict[str, Any]) -> bool:
    return (statement.get("Effect") == "Allow" and "Condition" not in statement
            and statement.get("Principal") in ("*", {"AWS": "*"})
            and statement.get("Action") in ("*", ["*"]))


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1"])
def test_no_endpoint_has_the_default_full_access_policy(platform: Any, cfn: Any,
                                                        region: str) -> None:
    # An endpoint without a policy lets any principal of any account use it (the default
    # policy); each one here admits principals of this account only:
    # https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html
    template = platform.template("network", region)
    endpoints = cfn.resources(template, "AWS::EC2::VPCEndpoint")
    assert len(endpoints) == 13  # 12 interface endpoints and the S3 gateway endpoint
    for logical_id, endpoint in endpoints.items():
        document = endpoint["Properties"].get("PolicyDocument")
        assert document, f"{logical_id} has the default full-access policy"
        for statement in document["Statement"]:
            assert not _allows_everyone_everything(statement), logical_id
            assert statement["Condition"]["StringEquals"]["aws:PrincipalAccount"] == {
                "Ref": "AWS::AccountId"}, logical_id


def test_fine_tuning_jobs_reach_only_the_vpc_endpoints(platform: Any, cfn: Any) -> None:
    template = platform.template("fine-tuning", "us-east-1")
    rules = [r["Properties"] for r in cfn.resources(template,
                                                    "AWS::EC2::SecurityGroupEgress").values()]
    (group,) = cfn.resources(template, "AWS::EC2::SecurityGroup").values()
    rules += group["Properties"].get("SecurityGroupEgress", [])
    # No 0.0.0.0/0: HTTPS to the endpoints' security group and to S3's prefix list (the
    # gateway endpoint), and traffic between the job's own containers.
    assert not [r for r in rules if "CidrIp" in r or "CidrIpv6" in r]
    https = [cfn.render(r.get("DestinationSecurityGroupId") or r.get("DestinationPrefixListId"))
             for r in rules if r["FromPort"] == 443]
    assert any("EndpointSecurityGroup" in h for h in https)
    assert any("S3PrefixList" in h for h in https)
    # The jobs run in the isolated (data) subnets, which have no route to the NAT gateways.
    definition = json.loads(cfn.render(next(iter(cfn.resources(
        template, "AWS::StepFunctions::StateMachine").values()))["Properties"][
        "DefinitionString"]))
    subnets = definition["States"][definition["StartAt"]]["Parameters"]["VpcConfig"]["Subnets"]
    assert len(subnets) == 2 and all("dataSubnet" in s for s in subnets)


@pytest.fixture(scope="module")
def customization() -> Template:
    app = cdk.App()
    stack = cdk.Stack(app, "Custom", env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
    net = PrivateModelNetwork(stack, "Net", invoke_arns=[MODEL], cidr="10.1.0.0/16",
                              availability_zones=["us-east-1a", "us-east-1b"])
    pipeline = FineTuningPipeline(stack, "Tuning", vpc=net.vpc, subnets=net.data_subnets,
                                  endpoint_peers=net.job_egress_peers())
    pipeline.add_bedrock_customization(BedrockCustomizationJob(
        name="nova", base_model_id="amazon.nova-micro-v1:0:128k"))
    return Template.from_stack(stack)


def _statements(template: Template, role_fragment: str) -> list[dict[str, Any]]:
    out = []
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        if role_fragment in logical_id:
            out += policy["Properties"]["PolicyDocument"]["Statement"]
    return out


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_the_customization_role_may_make_its_tagged_network_interfaces(
        customization: Template) -> None:
    # https://docs.aws.amazon.com/bedrock/latest/userguide/vpc-model-customization.html
    statements = _statements(customization, "BedrockRole")
    (tags,) = [s for s in statements if "ec2:CreateTags" in _actions(s)]
    assert tags["Condition"]["StringEquals"]["ec2:CreateAction"] == ["CreateNetworkInterface"]
    assert tags["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"] == [
        "BedrockManaged", "BedrockModelCustomizationJobArn"]
    tagged = [s for s in statements if _actions(s) == ["ec2:CreateNetworkInterface"]
              and "Condition" in s]
    assert tagged and tagged[0]["Condition"]["StringEquals"] == {
        "aws:RequestTag/BedrockManaged": ["true"]}
    # Deleting interfaces is held to the ones Bedrock tagged.
    (delete,) = [s for s in statements if "ec2:DeleteNetworkInterface" in _actions(s)]
    assert delete["Condition"]["StringEquals"] == {"ec2:ResourceTag/BedrockManaged": "true"}


def test_the_state_machine_may_create_grants_on_the_model_key(customization: Template) -> None:
    # https://docs.aws.amazon.com/bedrock/latest/userguide/encryption-custom-job.html
    statements = _statements(customization, "StateMachineRole")
    (grant,) = [s for s in statements if "kms:CreateGrant" in _actions(s)]
    assert "kms:DescribeKey" in _actions(grant)
    assert "Tuning" in json.dumps(grant["Resource"])  # the pipeline's key, not "*"
    assert grant["Condition"]["StringEquals"]["kms:ViaService"] == "bedrock.us-east-1.amazonaws.com"


@pytest.mark.parametrize(("region", "ids"), [("us-east-1", ["use1-az1", "use1-az2"]),
                                             ("eu-central-1", ["euc1-az1", "euc1-az2"])])
def test_subnets_name_their_zones_by_id(platform: Any, cfn: Any, region: str,
                                        ids: list[str]) -> None:
    # Zone letters map to different physical zones per account; IDs do not. No template
    # names a zone by letter (cfn-lint's W3010 is no longer ignored).
    subnets = cfn.resources(platform.template("network", region), "AWS::EC2::Subnet").values()
    assert all("AvailabilityZone" not in s["Properties"] for s in subnets)
    assert sorted({s["Properties"]["AvailabilityZoneId"] for s in subnets}) == ids
    for template in platform.templates.values():
        assert f'"{region}a"' not in json.dumps(template)
