"""Assertions on the default spec's templates, each saying why the property matters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from skyrelay.constructs.invocation_logging import SETTINGS_ACTIONS
from skyrelay.views.bedrock_arns import bedrock_invoke_arns

REGIONS = ("us-east-1", "eu-central-1")
INTERFACE_SERVICES = {
    "bedrock-runtime", "bedrock", "sagemaker.api", "sagemaker.runtime", "logs", "monitoring",
    "sts", "ssm", "secretsmanager", "kms", "ecr.api", "ecr.dkr",
}


def _service(endpoint: dict[str, Any], cfn: Any) -> str:
    name = cfn.render(endpoint["Properties"]["ServiceName"])
    return name.split(".", 3)[-1]  # com.amazonaws.<region>.<service>


@pytest.mark.parametrize("region", REGIONS)
def test_every_service_is_reached_through_a_private_endpoint(platform: Any, cfn: Any,
                                                             region: str) -> None:
    # Model traffic must never leave the VPC: each service the platform calls has an
    # endpoint, and private DNS makes the default SDK hostnames resolve to it.
    template = platform.template("network", region)
    endpoints = cfn.resources(template, "AWS::EC2::VPCEndpoint").values()
    interface = {_service(e, cfn): e for e in endpoints
                 if e["Properties"].get("VpcEndpointType") == "Interface"}
    gateway = [e for e in endpoints if e["Properties"].get("VpcEndpointType") == "Gateway"]
    assert set(interface) == INTERFACE_SERVICES
    assert all(e["Properties"]["PrivateDnsEnabled"] is True for e in interface.values())
    assert [cfn.render(g["Properties"]["ServiceName"]) for g in gateway] == [
        "com.amazonaws.${AWS::Region}.s3"]


@pytest.mark.parametrize("region", REGIONS)
def test_endpoint_security_group_admits_https_from_the_vpc_only(platform: Any, cfn: Any,
                                                                 region: str) -> None:
    template = platform.template("network", region)
    groups = [g for g in cfn.resources(template, "AWS::EC2::SecurityGroup").values()
              if "Interface endpoints" in g["Properties"]["GroupDescription"]]
    (group,) = groups
    ingress = group["Properties"]["SecurityGroupIngress"]
    cidr = platform.spec.aws.regions[region].vpc_cidr
    assert ingress == [{"CidrIp": cidr, "Description": "HTTPS from the VPC", "FromPort": 443,
                        "IpProtocol": "tcp", "ToPort": 443}]


@pytest.mark.parametrize("region", REGIONS)
def test_bedrock_runtime_endpoint_policy_lists_exactly_the_specs_models(
        platform: Any, cfn: Any, region: str) -> None:
    # The endpoint is the last gate: even a role with bedrock:* cannot reach a model the
    # spec does not name, and only principals of this account pass.
    template = platform.template("network", region)
    (endpoint,) = [e for e in cfn.resources(template, "AWS::EC2::VPCEndpoint").values()
                   if _service(e, cfn) == "bedrock-runtime"]
    (statement,) = endpoint["Properties"]["PolicyDocument"]["Statement"]
    expected = bedrock_invoke_arns(platform.spec, region, "${AWS::AccountId}").all()
    assert statement["Effect"] == "Allow"
    assert sorted(cfn.as_list(statement["Action"])) == [
        "bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    assert sorted(cfn.render(cfn.as_list(statement["Resource"]))) == sorted(expected)
    assert cfn.render(statement["Condition"]) == {
        "StringEquals": {"aws:PrincipalAccount": "${AWS::AccountId}"}}


def test_cross_region_profile_needs_every_destination_foundation_model(platform: Any) -> None:
    # us.anthropic... may run in any US destination region: each one's foundation-model ARN
    # (no account) must be allowed, plus the profile ARN in the calling region.
    arns = bedrock_invoke_arns(platform.spec, "us-east-1", "123456789012").all()
    fm = "anthropic.claude-sonnet-4-20250514-v1:0"
    assert ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us." + fm) in arns
    for dest in ("us-east-1", "us-east-2", "us-west-2"):
        assert f"arn:aws:bedrock:{dest}::foundation-model/{fm}" in arns


@pytest.mark.parametrize("region", REGIONS)
def test_model_access_policy_only_through_the_vpc_endpoint(platform: Any, cfn: Any,
                                                           region: str) -> None:
    template = platform.template("bedrock", region)
    (policy,) = cfn.resources(template, "AWS::IAM::ManagedPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    granted: list[str] = []
    for statement in statements:
        condition = cfn.render(statement["Condition"])
        # Every statement holds only through the region's bedrock-runtime endpoint.
        assert "BedrockRuntimeEndpoint" in condition["StringEquals"]["aws:SourceVpce"]
        granted += cfn.render(cfn.as_list(statement["Resource"]))
    expected = bedrock_invoke_arns(platform.spec, region, "${AWS::AccountId}").all()
    assert sorted(granted) == sorted(expected)


@pytest.mark.parametrize("region", REGIONS)
def test_profile_foundation_models_only_through_their_profile(platform: Any, cfn: Any,
                                                              region: str) -> None:
    # Issue 20, failure 6: the foundation models a cross-region profile routes to are
    # granted with bedrock:InferenceProfileArn = that profile, as the Bedrock user guide's
    # example policy does (inference-profiles-prereq.html); without it the role could call
    # eu-west-3's Claude directly, bypassing the profile's geography.
    arns = bedrock_invoke_arns(platform.spec, region, "${AWS::AccountId}")
    assert arns.profile_models  # the default spec uses profiles in both regions
    template = platform.template("bedrock", region)
    (policy,) = cfn.resources(template, "AWS::IAM::ManagedPolicy").values()
    by_profile: dict[str, list[str]] = {}
    direct: list[str] = []
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        equals = cfn.render(statement["Condition"])["StringEquals"]
        resources = cfn.render(cfn.as_list(statement["Resource"]))
        if "bedrock:InferenceProfileArn" in equals:
            assert all(":foundation-model/" in r for r in resources)
            by_profile.setdefault(equals["bedrock:InferenceProfileArn"], []).extend(resources)
        else:
            direct += resources
    assert {p: sorted(fms) for p, fms in by_profile.items()} == {
        p: sorted(fms) for p, fms in arns.profile_models}
    routed_only = {a for _, fms in arns.profile_models for a in fms} - set(arns.direct_models)
    assert routed_only and not routed_only & set(direct)


def test_no_statement_grants_bedrock_wildcards(platform: Any, cfn: Any) -> None:
    # Least privilege: no bedrock:* (or service-wide *) action anywhere, and the only
    # bedrock actions on "*" are the account-level logging setting, which IAM cannot scope.
    seen_bedrock = 0
    for name, template in platform.templates.items():
        for logical_id, statement in cfn.policy_statements(template):
            if statement.get("Effect") != "Allow":
                continue
            if statement.get("Sid") == "OnlyPrincipalsOfThisAccount":
                # An endpoint policy grants nothing: it is the ceiling of what principals of
                # this account may do through the endpoint (their own policies still decide).
                assert template["Resources"][logical_id]["Type"] == "AWS::EC2::VPCEndpoint"
                assert list(statement["Condition"]["StringEquals"]) == ["aws:PrincipalAccount"]
                continue
            actions = cfn.as_list(statement.get("Action", []))
            resources = cfn.as_list(statement.get("Resource", []))
            assert "*" not in actions and "bedrock:*" not in actions, (name, logical_id)
            for action in actions:
                if action.startswith("bedrock:"):
                    seen_bedrock += 1
                    assert not action.endswith("*"), (name, logical_id, action)
                    if "*" in resources:
                        assert action in SETTINGS_ACTIONS, (name, logical_id, action)
    assert seen_bedrock > 0  # the walk did see the Bedrock grants


def test_every_log_group_bucket_and_topic_uses_a_customer_key(platform: Any, cfn: Any) -> None:
    counts = {"logs": 0, "buckets": 0, "topics": 0}
    for template in platform.templates.values():
        for group in cfn.resources(template, "AWS::Logs::LogGroup").values():
            assert "Fn::GetAtt" in group["Properties"]["KmsKeyId"]
            counts["logs"] += 1
        for logical_id, bucket in cfn.resources(template, "AWS::S3::Bucket").items():
            (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            default = rule["ServerSideEncryptionByDefault"]
            if logical_id.startswith("GatewayAccessLogs"):
                # Load balancer access logs: ELB delivers only to SSE-S3 buckets (no KMS).
                assert default["SSEAlgorithm"] == "AES256"
                continue
            assert default["SSEAlgorithm"] == "aws:kms" and "KMSMasterKeyID" in default
            counts["buckets"] += 1
        for topic in cfn.resources(template, "AWS::SNS::Topic").values():
            assert "Fn::GetAtt" in topic["Properties"]["KmsMasterKeyId"]
            counts["topics"] += 1
    # flow logs x2, invocation logs + handler x2, state machine, gateway x2, the S3
    # prefix-list lookup of the region with fine-tuning jobs: 10; 2 logging + 2 data buckets;
    # 2 alarm topics + 1 fine-tuning topic.
    assert counts == {"logs": 10, "buckets": 4, "topics": 3}


def test_every_log_group_has_retention(platform: Any, cfn: Any) -> None:
    for name, template in platform.templates.items():
        # The gateway's log group follows gateway.log_retention_days (90), the rest 365.
        days = 90 if name.endswith("-gateway") else 365
        for group in cfn.resources(template, "AWS::Logs::LogGroup").values():
            assert group["Properties"]["RetentionInDays"] == days


def test_data_is_retained_when_a_stack_goes(platform: Any, cfn: Any) -> None:
    # Logs, datasets, model artifacts and the keys that decrypt them outlive any stack.
    for template in platform.templates.values():
        for type_ in ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup"):
            for logical_id, res in cfn.resources(template, type_).items():
                assert res.get("DeletionPolicy") == "Retain", logical_id
                assert res.get("UpdateReplacePolicy") == "Retain", logical_id


def test_buckets_are_ssl_only_versioned_and_private(platform: Any, cfn: Any) -> None:
    for template in platform.templates.values():
        policies = {cfn.render(p["Properties"]["Bucket"]): p for p in
                    cfn.resources(template, "AWS::S3::BucketPolicy").values()}
        for logical_id, bucket in cfn.resources(template, "AWS::S3::Bucket").items():
            props = bucket["Properties"]
            assert props["VersioningConfiguration"] == {"Status": "Enabled"}
            assert all(props["PublicAccessBlockConfiguration"].values())
            statements = policies["${" + logical_id + "}"]["Properties"]["PolicyDocument"][
                "Statement"]
            assert any(s["Effect"] == "Deny" and s["Condition"] == {
                "Bool": {"aws:SecureTransport": "false"}} for s in statements)


def _state_machines(platform: Any, cfn: Any) -> dict[str, dict[str, Any]]:
    template = platform.template("fine-tuning", "us-east-1")
    return {k: json.loads(cfn.render(r["Properties"]["DefinitionString"]))
            for k, r in cfn.resources(template, "AWS::StepFunctions::StateMachine").items()}


def test_training_job_runs_isolated_in_the_vpc_and_encrypted(platform: Any, cfn: Any) -> None:
    (definition,) = _state_machines(platform, cfn).values()
    run = definition["States"][definition["StartAt"]]
    params = run["Parameters"]
    # .sync: the execution waits for the job, so success and failure are notified truthfully.
    assert run["Resource"].endswith(":states:::sagemaker:createTrainingJob.sync")
    assert params["EnableNetworkIsolation"] is True
    assert params["EnableInterContainerTrafficEncryption"] is True
    assert len(params["VpcConfig"]["Subnets"]) == 2
    # The isolated subnets: no route to the NAT gateways the gateway's region has.
    assert all("dataSubnet" in s for s in params["VpcConfig"]["Subnets"])
    # ml.g5 has instance storage, encrypted by the instance: CreateTrainingJob refuses a
    # volume key for it. The output is still encrypted with the pipeline's key.
    assert "VolumeKmsKeyId" not in params["ResourceConfig"]
    assert params["OutputDataConfig"]["KmsKeyId"]
    assert params["OutputDataConfig"]["S3OutputPath"].startswith("s3://")
    assert params["StoppingCondition"] == {"MaxRuntimeInSeconds": 12 * 3600}
    assert params["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"
    assert params["HyperParameters"]["epochs"] == "3"
    assert params["TrainingJobName.$"] == "$.job_name"
    # failures are caught and notified, then the execution fails
    (catch,) = run["Catch"]
    assert definition["States"][catch["Next"]]["Resource"].endswith(":states:::sns:publish")


@pytest.mark.parametrize("region", REGIONS)
def test_alarms_per_model_on_throttles_errors_and_p99(platform: Any, cfn: Any,
                                                       region: str) -> None:
    template = platform.template("observability", region)
    alarms = list(cfn.resources(template, "AWS::CloudWatch::Alarm").values())
    models = [m.model_id for m in platform.spec.aws.regions[region].bedrock_models]
    assert len(alarms) == 3 * len(models)
    by_metric: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for alarm in alarms:
        props = alarm["Properties"]
        (metric,) = props["Metrics"]
        stat = metric["MetricStat"]
        assert stat["Metric"]["Namespace"] == "AWS/Bedrock" and stat["Period"] == 300
        assert props["AlarmActions"] and props["OKActions"]
        by_metric.setdefault(stat["Metric"]["MetricName"], []).append((props, stat))
    cfg = platform.spec.aws.alarms
    expected = {"InvocationThrottles": ("Sum", cfg.throttles_per_5min),
                "InvocationServerErrors": ("Sum", cfg.server_errors_per_5min),
                "InvocationLatency": ("p99", cfg.p99_latency_ms)}
    assert set(by_metric) == set(expected)
    for name, (statistic, threshold) in expected.items():
        assert {(s["Stat"], p["Threshold"]) for p, s in by_metric[name]} == {
            (statistic, threshold)}
        assert sorted(d["Value"] for _, s in by_metric[name]
                      for d in s["Metric"]["Dimensions"]) == sorted(models)


def test_stateful_stacks_have_termination_protection_and_tags(platform: Any) -> None:
    import aws_cdk as cdk

    stacks = {c.stack_name: c for c in platform.app.node.children if isinstance(c, cdk.Stack)}
    for name, stack in stacks.items():
        stateful = name.endswith(("-bedrock", "-fine-tuning", "-gateway"))
        assert stack.termination_protection is stateful, name
        assert stack.region in name and not cdk.Token.is_unresolved(stack.region)
        tags = stack.tags.tag_values()
        assert tags["owner"] == "platform-team" and tags["skyrelay:platform"] == "acme-ai"


def test_invocation_logging_is_configured_with_the_specs_data_types(platform: Any,
                                                                      cfn: Any) -> None:
    template = platform.template("bedrock", "eu-central-1")
    (custom,) = cfn.resources(template, "Custom::BedrockInvocationLogging").values()
    config = json.loads(cfn.render(custom["Properties"]["LoggingConfig"]))
    logging_cfg = platform.spec.aws.invocation_logging
    assert config["textDataDeliveryEnabled"] is logging_cfg.text is True
    assert config["imageDataDeliveryEnabled"] is logging_cfg.image is False
    assert config["embeddingDataDeliveryEnabled"] is logging_cfg.embedding is False
    assert config["cloudWatchConfig"]["roleArn"].startswith("${InvocationLoggingDeliveryRole")
    assert custom["Properties"]["TakeOverExisting"] == "false"
