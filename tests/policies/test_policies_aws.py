"""AWS rules: each fixture breaks one rule; the default spec's templates break none."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from skyrelay.policies import aws_templates as aws
from skyrelay.policies.rules import Violation


def _tpl(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def _policy(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "AWS::IAM::Policy",
            "Properties": {"PolicyDocument": {"Statement": [statement]}}}


def _only(found: list[Violation], rule: str, resource: str) -> Violation:
    assert [v.rule for v in found] == [rule], found
    assert found[0].resource == resource
    assert rule in str(found[0]) and resource in str(found[0])
    return found[0]


VPCE = {"StringEquals": {"aws:SourceVpce": "vpce-1"}}
GOOD_BUCKET = {
    "Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain",
    "Properties": {"BucketEncryption": {"ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k"}}]}},
}
SSL_POLICY = {"Type": "AWS::S3::BucketPolicy", "Properties": {
    "Bucket": {"Ref": "B"}, "PolicyDocument": {"Statement": [{
        "Effect": "Deny", "Action": "s3:*", "Principal": {"AWS": "*"},
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}}


def test_wildcard_bedrock_action_is_caught() -> None:
    t = _tpl(P=_policy({"Effect": "Allow", "Action": "bedrock:*", "Resource": "arn:x"}))
    v = _only(aws.check_template(t, "s"), "SKY-AWS-001", "s/P")
    assert "bedrock:*" in v.message


def test_bedrock_action_on_star_resource_is_caught_except_the_allow_list() -> None:
    bad = _tpl(P=_policy({"Effect": "Allow", "Action": ["bedrock:InvokeModel"],
                          "Resource": "*", "Condition": VPCE}))
    _only(aws.check_template(bad, "s"), "SKY-AWS-001", "s/P")
    ok = _tpl(P=_policy({"Effect": "Allow", "Resource": "*",
                         "Action": ["bedrock:PutModelInvocationLoggingConfiguration"]}))
    assert aws.check_template(ok, "s") == []


def test_invoke_without_source_vpce_is_caught() -> None:
    t = _tpl(R={"Type": "AWS::IAM::Role", "Properties": {"Policies": [{"PolicyDocument": {
        "Statement": [{"Effect": "Allow", "Action": "bedrock:InvokeModel",
                       "Resource": "arn:aws:bedrock:us-east-1::foundation-model/x"}]}}]}})
    v = _only(aws.check_template(t, "s"), "SKY-AWS-002", "s/R")
    assert "aws:SourceVpce" in v.message


@pytest.mark.parametrize("missing", ["KmsKeyId", "RetentionInDays"])
def test_log_group_without_key_or_retention_is_caught(missing: str) -> None:
    props = {"KmsKeyId": "arn:k", "RetentionInDays": 30}
    del props[missing]
    t = _tpl(L={"Type": "AWS::Logs::LogGroup", "Properties": props})
    assert missing in _only(aws.check_template(t, "s"), "SKY-AWS-003", "s/L").message


def test_good_bucket_passes() -> None:
    assert aws.check_template(_tpl(B=GOOD_BUCKET, BP=SSL_POLICY), "s") == []


@pytest.mark.parametrize("breakage,text", [
    ("sse-s3", "KMS"), ("no-policy", "SecureTransport"), ("delete", "Retain"),
])
def test_bucket_breakages_are_caught(breakage: str, text: str) -> None:
    bucket = copy.deepcopy(GOOD_BUCKET)
    resources = {"B": bucket, "BP": SSL_POLICY}
    if breakage == "sse-s3":
        bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"] = {"SSEAlgorithm": "AES256"}
    elif breakage == "no-policy":
        del resources["BP"]
    else:
        bucket["DeletionPolicy"] = "Delete"
    assert text in _only(aws.check_template(_tpl(**resources), "s"), "SKY-AWS-004", "s/B").message


def test_sse_s3_is_accepted_only_for_alb_access_log_buckets() -> None:
    bucket = copy.deepcopy(GOOD_BUCKET)
    bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"] = {"SSEAlgorithm": "AES256"}
    alb = {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
        "LoadBalancerAttributes": [{"Key": "access_logs.s3.bucket", "Value": {"Ref": "B"}}]}}
    assert aws.check_template(_tpl(B=bucket, BP=SSL_POLICY, LB=alb), "s") == []


def _state_machine(params: dict[str, Any]) -> dict[str, Any]:
    definition = {"StartAt": "Run", "States": {"Run": {
        "Type": "Task", "End": True, "Parameters": params,
        "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync"}}}
    text = json.dumps(definition)
    head, tail = text.split("arn:aws:states")
    # the shape CDK emits: a Fn::Join with intrinsics between string parts
    return {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"DefinitionString": {
        "Fn::Join": ["", [head + "arn:", {"Ref": "AWS::Partition"}, ":states" + tail]]}}}


def test_training_job_without_isolation_or_vpc_is_caught() -> None:
    good = {"EnableNetworkIsolation": True,
            "VpcConfig": {"Subnets": ["s-1"], "SecurityGroupIds": ["sg-1"]}}
    assert aws.check_template(_tpl(SM=_state_machine(good)), "s") == []
    found = aws.check_template(_tpl(SM=_state_machine({"EnableNetworkIsolation": False})), "s")
    assert {v.rule for v in found} == {"SKY-AWS-005"} and len(found) == 2
    assert all(v.resource == "s/SM/Run" for v in found)
    assert any("VpcConfig" in v.message for v in found)


def test_stack_region_outside_every_classification_is_caught() -> None:
    from skyrelay.regions import expand_allowed

    eu = expand_allowed(["eu"])
    assert aws.check_region("eu-central-1", eu, "st") == []
    v = _only(aws.check_region("us-east-1", eu, "st"), "SKY-AWS-006", "st")
    assert "us-east-1" in v.message


def test_default_spec_templates_pass_every_aws_rule(synth_dir: Path) -> None:
    templates = sorted(synth_dir.glob("*.template.json"))
    assert len(templates) >= 8
    for path in templates:
        assert aws.check_template(json.loads(path.read_text()), path.name) == []


def test_default_templates_are_actually_inspected(synth_dir: Path) -> None:
    """Guard against a vacuous pass: stripping one real log group's key is caught."""
    path = next(synth_dir.glob("*-bedrock.template.json"))
    template = json.loads(path.read_text())
    lid = next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::Logs::LogGroup")
    del template["Resources"][lid]["Properties"]["KmsKeyId"]
    _only(aws.check_template(template, "b"), "SKY-AWS-003", f"b/{lid}")
