"""The AWS template rules (``skyrelay.policies.aws_templates``), edge by edge.

Each rule is a guard a bad template must not slip past: a managed policy, a statement
without an ``Effect``, a second offending statement after a first one, a state machine that
nests its training job in a Map or Parallel state, a definition CloudFormation cannot read.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from skyrelay.policies import aws_templates as aws

VPCE = {"StringEquals": {"aws:SourceVpce": "vpce-1"}}


def tpl(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": resources}


def found(template: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(v.rule, v.resource, v.message) for v in aws.check_template(template, "s")]


def doc(*statements: Any) -> dict[str, Any]:
    return {"Statement": list(statements)}


# --- SKY-AWS-001 / 002 -----------------------------------------------------------------------

def test_managed_policies_and_role_inline_policies_are_inspected() -> None:
    wild = {"Action": "bedrock:*", "Resource": "arn:x"}
    assert found(tpl(M={"Type": "AWS::IAM::ManagedPolicy",
                        "Properties": {"PolicyDocument": doc(wild)}})) == [
        ("SKY-AWS-001", "s/M", "wildcard Bedrock action bedrock:*")]
    role = {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
        {"PolicyDocument": doc({"Action": "s3:GetObject", "Resource": "*"})},
        {"PolicyDocument": doc(wild)}]}}
    assert [v[0] for v in found(tpl(R=role))] == ["SKY-AWS-001"]


def test_a_statement_without_effect_allows_and_deny_statements_are_ignored() -> None:
    allow = {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": doc(
        {"Action": ["bedrock:InvokeModel", "*"], "Resource": "*"})}}
    assert found(tpl(P=allow)) == [
        ("SKY-AWS-001", "s/P", "wildcard Bedrock action *"),
        ("SKY-AWS-002", "s/P", "bedrock:InvokeModel not conditioned on aws:SourceVpce")]
    deny = {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": doc(
        {"Effect": "Deny", "Action": "bedrock:*", "Resource": "*"}, "not-a-statement",
        {"Effect": "Allow", "Action": [{"Fn::Sub": "x"}, "s3:*"], "Resource": "*"})}}
    assert found(tpl(P=deny)) == []


def test_every_offending_statement_is_reported() -> None:
    policy = {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": doc(
        {"Action": ["bedrock:*", "bedrock:Get*"], "Resource": "arn:x"},
        {"Action": ["bedrock:InvokeModel", "bedrock:Converse"], "Resource": "*",
         "Condition": VPCE},
        {"Action": "bedrock:InvokeModel", "Resource": "arn:y"})}}
    assert found(tpl(P=policy)) == [
        ("SKY-AWS-001", "s/P", "wildcard Bedrock action bedrock:*, bedrock:Get*"),
        ("SKY-AWS-001", "s/P", "bedrock:InvokeModel, bedrock:Converse allowed on "
                               "Resource '*'"),
        ("SKY-AWS-002", "s/P", "bedrock:InvokeModel not conditioned on aws:SourceVpce")]


@pytest.mark.parametrize("condition", [
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    # The right operator on another key: only the network path condition counts.
    {"StringEquals": {"aws:SourceAccount": "123456789012"}},
])
def test_a_condition_on_another_key_is_no_source_vpce(condition: dict[str, Any]) -> None:
    policy = {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": doc(
        {"Action": "bedrock:InvokeModel", "Resource": "arn:y", "Condition": condition})}}
    assert found(tpl(P=policy)) == [
        ("SKY-AWS-002", "s/P", "bedrock:InvokeModel not conditioned on aws:SourceVpce")]


def test_a_condition_that_is_not_a_mapping_is_no_source_vpce() -> None:
    policy = {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": doc(
        {"Action": ["bedrock:InvokeModel", "bedrock:ConverseStream"], "Resource": "arn:y",
         "Condition": {"StringEquals": "aws:SourceVpce"}})}}
    assert found(tpl(P=policy)) == [
        ("SKY-AWS-002", "s/P", "bedrock:InvokeModel, bedrock:ConverseStream not conditioned "
                               "on aws:SourceVpce")]


# --- SKY-AWS-003 -----------------------------------------------------------------------------

def test_log_group_rules() -> None:
    assert found(tpl(L={"Type": "AWS::Logs::LogGroup"})) == [
        ("SKY-AWS-003", "s/L", "log group without KmsKeyId and RetentionInDays")]
    assert found(tpl(L={"Type": "AWS::Logs::LogGroup",
                        "Properties": {"KmsKeyId": "k"}})) == [
        ("SKY-AWS-003", "s/L", "log group without RetentionInDays")]
    assert found(tpl(L={"Type": "AWS::Logs::LogGroup",
                        "Properties": {"RetentionInDays": 30}})) == [
        ("SKY-AWS-003", "s/L", "log group without KmsKeyId")]
    assert found(tpl(L={"Type": "AWS::Logs::LogGroup",
                        "Properties": {"KmsKeyId": "k", "RetentionInDays": 30}})) == []


# --- SKY-AWS-004 -----------------------------------------------------------------------------

def bucket(*algos: str, retain: bool = True) -> dict[str, Any]:
    res: dict[str, Any] = {"Type": "AWS::S3::Bucket", "Properties": {"BucketEncryption": {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": a}} for a in algos]}}}
    if retain:
        res["DeletionPolicy"] = "Retain"
    return res


def ssl_only(ref: str, effect: str = "Deny") -> dict[str, Any]:
    return {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": ref},
            "PolicyDocument": doc({"Effect": effect, "Action": "s3:*", "Principal": "*",
                                   "Condition": {"Bool": {"aws:SecureTransport": "false"}}})}}


def test_bucket_encryption_kinds() -> None:
    assert found(tpl(B=bucket("aws:kms", "aws:kms:dsse"), P=ssl_only("B"))) == []
    assert found(tpl(B=bucket("aws:kms:dsse"), P=ssl_only("B"))) == []
    assert found(tpl(B=bucket("AES256"), P=ssl_only("B"))) == [
        ("SKY-AWS-004", "s/B", "not KMS-encrypted")]


def test_every_bucket_problem_of_every_bucket_is_reported() -> None:
    assert found(tpl(A=bucket(retain=False), B=bucket("aws:kms", retain=False))) == [
        ("SKY-AWS-004", "s/A", "not KMS-encrypted"),
        ("SKY-AWS-004", "s/A", "bucket policy does not deny aws:SecureTransport false"),
        ("SKY-AWS-004", "s/A", "DeletionPolicy is not Retain"),
        ("SKY-AWS-004", "s/B", "bucket policy does not deny aws:SecureTransport false"),
        ("SKY-AWS-004", "s/B", "DeletionPolicy is not Retain")]


def test_only_a_deny_on_this_bucket_makes_it_ssl_only() -> None:
    # Another bucket's policy first, then this one's: both are looked at.
    assert found(tpl(B=bucket("aws:kms"), P1=ssl_only("Other"), P2=ssl_only("B"),
                     Other=bucket("aws:kms"))) == []
    assert found(tpl(B=bucket("aws:kms"), P=ssl_only("B", effect="Allow")))[0][2] == (
        "bucket policy does not deny aws:SecureTransport false")


def test_sse_s3_only_for_the_alb_log_bucket_named_by_ref() -> None:
    alb = {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
        "LoadBalancerAttributes": [
            {"Key": "access_logs.s3.enabled", "Value": {"Ref": "Other"}},
            {"Key": "access_logs.s3.bucket", "Value": "literal-name"},
            {"Key": "access_logs.s3.bucket", "Value": {"Ref": "Logs"}}]}}
    result = found(tpl(ALB=alb, Logs=bucket("AES256"), P=ssl_only("Logs"),
                       Other=bucket("AES256"), P2=ssl_only("Other")))
    assert result == [("SKY-AWS-004", "s/Other", "not KMS-encrypted")]


# --- SKY-AWS-005 -----------------------------------------------------------------------------

TRAIN = "arn:aws:states:::sagemaker:createTrainingJob.sync"
GOOD = {"EnableNetworkIsolation": True,
        "VpcConfig": {"Subnets": ["s"], "SecurityGroupIds": ["g"]}}


def machine(definition: Any, key: str = "Definition") -> dict[str, Any]:
    return {"Type": "AWS::StepFunctions::StateMachine", "Properties": {key: definition}}


def test_training_jobs_nested_in_parallel_and_map_states_are_checked() -> None:
    definition = {"States": {
        "Par": {"Type": "Parallel", "Branches": [
            {"States": {"T1": {"Resource": TRAIN, "Parameters": {}}}}]},
        "Old": {"Type": "Map", "Iterator": {"States": {"T2": {"Resource": TRAIN,
                                                                "Parameters": GOOD}}}},
        "New": {"Type": "Map", "ItemProcessor": {"States": {"T3": {
            "Resource": TRAIN, "Parameters": {**GOOD, "EnableNetworkIsolation": "true"}}}}},
        "Other": {"Resource": "arn:aws:states:::lambda:invoke"},
    }}
    assert found(tpl(SM=machine(definition))) == [
        ("SKY-AWS-005", "s/SM/T1", "training job without EnableNetworkIsolation true"),
        ("SKY-AWS-005", "s/SM/T1", "training job without VpcConfig subnets and security "
                                   "groups"),
        ("SKY-AWS-005", "s/SM/T3", "training job without EnableNetworkIsolation true")]


def test_a_vpc_config_needs_both_subnets_and_security_groups() -> None:
    for vpc in ({"Subnets": ["s"]}, {"SecurityGroupIds": ["g"]}):
        definition = {"States": {"T": {"Resource": TRAIN, "Parameters": {
            "EnableNetworkIsolation": True, "VpcConfig": vpc}}}}
        assert [v[2] for v in found(tpl(SM=machine(definition)))] == [
            "training job without VpcConfig subnets and security groups"]


def test_definition_strings_with_intrinsics_are_read() -> None:
    text = json.dumps({"States": {"T": {"Resource": TRAIN, "Parameters": {
        "EnableNetworkIsolation": True, "VpcConfig": {"Subnets": ["SUBNET"],
                                                      "SecurityGroupIds": ["SG"]}}}}})
    before, after = text.split("SUBNET")
    joined = {"Fn::Join": ["", [before, {"Ref": "Subnet"}, after]]}
    assert found(tpl(SM=machine(joined, "DefinitionString"))) == []
    assert found(tpl(SM=machine(text.replace("true", "false"), "DefinitionString"))) == [
        ("SKY-AWS-005", "s/SM/T", "training job without EnableNetworkIsolation true")]
    assert found(tpl(SM={"Type": "AWS::StepFunctions::StateMachine"})) == []
    # Another intrinsic than Fn::Join is read as JSON of itself: no states, no training job.
    assert found(tpl(SM=machine({"Fn::Sub": "${Definition}"}, "DefinitionString"))) == []


def test_an_unreadable_definition_is_a_violation_and_the_next_machine_is_still_checked() -> None:
    bad = machine("{not json", "DefinitionString")
    worse = machine({"States": {"T": {"Resource": TRAIN, "Parameters": {}}}})
    result = found(tpl(A=bad, B=worse))
    assert result[0] == ("SKY-AWS-005", "s/A", "definition is not readable")
    assert [r[1] for r in result[1:]] == ["s/B/T", "s/B/T"]
