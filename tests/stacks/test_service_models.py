"""Every AWS API call the stacks generate, validated against botocore's service models.

The oracle (DESIGN.md, "Truth at deploy time"): each Step Functions task's Parameters, each
AwsCustomResource call and the invocation-logging custom resource's Bedrock and SSM calls are
checked with botocore's ParamValidator (plus max/pattern/enum, tests/support/aws_oracle.py)
against the operation's input shape, and with the documented rules the models cannot express
(tests/support/aws_doc_rules.py). A passing cfn-lint says nothing about these: the template is
valid CloudFormation whatever a state machine later sends to SageMaker.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_doc_rules import doc_problems
from aws_oracle import Call, check, validate_call
from cfn_placeholders import Resolver
from sfn_calls import state_machine_calls

from skyrelay.constructs.fine_tuning import (
    BedrockCustomizationJob,
    FineTuningPipeline,
    SageMakerTrainingJob,
)
from skyrelay.constructs.invocation_logging_handler import index as handler
from skyrelay.constructs.network import PrivateModelNetwork

#: What a real execution's state holds: the documented input, and the error a Catch stores.
STATE_INPUT = {"job_name": "support-summarizer-2026-12-02",
               "error": {"Error": "States.TaskFailed", "Cause": "the training job failed"}}
IMAGE = ("763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training:"
         "2.1.0-transformers4.36.0-gpu-py310-cu121-ubuntu20.04")
MODEL = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0"


def problems(call: Call) -> list[str]:
    return check(call).errors + doc_problems(call)


def custom_aws_calls(templates: dict[str, Any], region: str) -> list[Call]:
    """The SDK calls of CDK AwsCustomResource resources (``Custom::AWS``)."""
    resolver, out = Resolver(templates, region), []
    for stack, template in templates.items():
        for logical_id, res in template["Resources"].items():
            if res["Type"] != "Custom::AWS":
                continue
            for phase in ("Create", "Update", "Delete"):
                if phase in res["Properties"]:
                    sdk = json.loads(resolver.resolve(res["Properties"][phase], stack))
                    action = sdk["action"][:1].upper() + sdk["action"][1:]
                    out.append(Call(sdk["service"].lower(), action, sdk.get("parameters", {}),
                                    f"{stack}/{logical_id}/{phase}"))
    return out


class ValidatingClient:
    """A stand-in boto3 client (the cloud is what is mocked) that validates every call it
    gets against the service model, records it and answers from ``answers``."""

    def __init__(self, service: str, answers: dict[str, Any] | None = None) -> None:
        import botocore.session

        self.service, self.answers, self.calls = service, answers or {}, []
        model = botocore.session.get_session().get_service_model(service)
        self._ops = {op: op for op in model.operation_names}
        from botocore import xform_name
        self._by_method = {xform_name(op): op for op in model.operation_names}

        class _Exceptions:
            class ParameterNotFound(Exception):
                pass
        self.exceptions = _Exceptions

    def __getattr__(self, method: str) -> Any:
        operation = self._by_method[method]

        def call(**params: Any) -> Any:
            self.calls.append(check(Call(self.service, operation, params, f"handler/{method}")))
            answer = self.answers.get(method, {})
            if isinstance(answer, type) and issubclass(answer, Exception):
                raise answer(method)
            return answer
        return call


# --- the default spec -------------------------------------------------------------------------

def default_calls(platform: Any) -> list[Call]:
    calls: list[Call] = []
    for region in platform.spec.aws.regions:
        templates = {n: t for n, t in platform.templates.items() if f"-{region}-" in n}
        calls += list(state_machine_calls(templates, region, STATE_INPUT))
        calls += custom_aws_calls(templates, region)
    return calls


def test_every_generated_call_of_the_default_spec_is_valid(platform: Any,
                                                           record_property: Any) -> None:
    calls = default_calls(platform)
    bad = {c.origin: problems(c) for c in calls if problems(c)}
    assert bad == {}
    kinds = sorted({(c.service, c.operation) for c in calls})
    # The training job and its two notifications, and the S3 prefix-list lookups.
    assert ("sagemaker", "CreateTrainingJob") in kinds and ("sns", "Publish") in kinds
    assert ("ec2", "DescribeManagedPrefixLists") in kinds
    record_property("validated_calls", len(calls))
    print(f"service-model validation: {len(calls)} calls of the default spec's templates")


def test_the_training_job_is_the_one_the_documentation_allows(platform: Any) -> None:
    (train,) = [c for c in default_calls(platform) if c.operation == "CreateTrainingJob"]
    params = train.params
    # ml.g5 has instance storage: no VolumeKmsKeyId (CreateTrainingJob would refuse it).
    assert params["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"
    assert "VolumeKmsKeyId" not in params["ResourceConfig"]
    # s3:// locations, not CDK's https form that SageMaker would read as a bucket name.
    assert params["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].startswith(
        "s3://bucket-")
    assert params["OutputDataConfig"]["S3OutputPath"].startswith("s3://bucket-")
    assert params["OutputDataConfig"]["KmsKeyId"].startswith("arn:aws:kms:us-east-1:")


# --- a pipeline with both job kinds -----------------------------------------------------------

@pytest.fixture(scope="module")
def both_kinds() -> dict[str, Any]:
    """A stack with a SageMaker job on an EBS-only type and a Bedrock customization."""
    app = cdk.App()
    stack = cdk.Stack(app, "Jobs", env=cdk.Environment(account="123456789012",
                                                       region="us-east-1"))
    net = PrivateModelNetwork(stack, "Net", invoke_arns=[MODEL], cidr="10.1.0.0/16",
                              availability_zones=["us-east-1a", "us-east-1b"])
    pipeline = FineTuningPipeline(stack, "Tuning", vpc=net.vpc, subnets=net.data_subnets,
                                  endpoint_peers=net.job_egress_peers())
    pipeline.add_sagemaker_training(SageMakerTrainingJob(
        name="ebs-job", training_image=IMAGE, instance_type="ml.m5.xlarge",
        dataset_prefix="datasets/a/", hyperparameters={"epochs": "1"}))
    pipeline.add_bedrock_customization(BedrockCustomizationJob(
        name="nova-tuned", base_model_id="amazon.nova-micro-v1:0:128k",
        dataset_prefix="datasets/nova/", hyperparameters={"epochCount": "2"}))
    return {"Jobs": app.synth().get_stack_by_name("Jobs").template}


def test_both_job_kinds_make_valid_calls(both_kinds: dict[str, Any],
                                         record_property: Any) -> None:
    calls = list(state_machine_calls(both_kinds, "us-east-1", STATE_INPUT))
    record_property("validated_calls", len(calls))
    print(f"service-model validation: {len(calls)} calls of the two-job pipeline")
    assert {c.operation for c in calls} == {"CreateTrainingJob", "CreateModelCustomizationJob",
                                           "Publish"}
    assert {c.origin: problems(c) for c in calls if problems(c)} == {}
    (train,) = [c for c in calls if c.operation == "CreateTrainingJob"]
    # An EBS-only type keeps its volume encrypted with the pipeline's key.
    assert train.params["ResourceConfig"]["VolumeKmsKeyId"].startswith("arn:aws:kms:")
    (custom,) = [c for c in calls if c.operation == "CreateModelCustomizationJob"]
    p = custom.params
    assert p["trainingDataConfig"]["s3Uri"].endswith("/datasets/nova/train.jsonl")
    assert p["vpcConfig"]["subnetIds"] and p["vpcConfig"]["securityGroupIds"]
    assert p["customModelKmsKeyId"].startswith("arn:aws:kms:us-east-1:")


# --- a broken parameter must fail -------------------------------------------------------------

@pytest.mark.parametrize(("break_it", "expected"), [
    (lambda p: p["ResourceConfig"].update(InstanceType="ml.g5.2xlargeX"), "not in enum"),
    (lambda p: p.pop("RoleArn"), 'Missing required parameter in input: "RoleArn"'),
    (lambda p: p["StoppingCondition"].update(MaxRuntimeInSeconds="12h"), "Invalid type"),
    (lambda p: p.update(TrainingJobName="-starts-with-a-hyphen"), "pattern mismatch"),
    (lambda p: p.update(TrainingJobName="x" * 64), "too large"),
    (lambda p: p["ResourceConfig"].update(VolumeKmsKeyId="arn:aws:kms:us-east-1:1:key/k"),
     "sagemaker-no-volume-key-on-local-storage"),
    (lambda p: p["OutputDataConfig"].update(
        S3OutputPath="https://s3.us-east-1.amazonaws.com/bucket/out/"), "sagemaker-s3-uris"),
])
def test_a_broken_parameter_fails_the_validation(platform: Any, break_it: Any,
                                                 expected: str) -> None:
    (train,) = [c for c in default_calls(platform) if c.operation == "CreateTrainingJob"]
    assert problems(train) == []
    broken = Call(train.service, train.operation, copy.deepcopy(train.params), "broken")
    break_it(broken.params)
    found = problems(broken)
    assert any(expected in p for p in found), found


# --- the invocation-logging custom resource -------------------------------------------------

def logging_config(platform: Any, region: str) -> dict[str, Any]:
    name = f"{platform.spec.name}-{region}-bedrock"
    template = platform.templates[name]
    (res,) = [r for r in template["Resources"].values()
              if r["Type"] == "Custom::BedrockInvocationLogging"]
    return {k: Resolver({name: template}, region).resolve(v, name)
            for k, v in res["Properties"].items() if k != "ServiceToken"}


@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete", "TakeOver"])
def test_the_invocation_logging_handler_sends_valid_calls(platform: Any, request_type: str,
                                                          record_property: Any) -> None:
    calls: list[Call] = []
    for region in platform.spec.aws.regions:
        props = logging_config(platform, region)
        desired = json.loads(props["LoggingConfig"])
        foreign = {"s3Config": {"bucketName": "someone-elses", "keyPrefix": "x"},
                   "textDataDeliveryEnabled": True}
        current = {"TakeOver": foreign, "Delete": desired}.get(request_type)
        bedrock = ValidatingClient("bedrock", {
            "get_model_invocation_logging_configuration":
                {"loggingConfig": current} if current else {}})
        ssm = ValidatingClient("ssm")
        ssm.answers["get_parameter"] = ssm.exceptions.ParameterNotFound
        if request_type == "TakeOver":
            props = {**props, "TakeOverExisting": "true"}
        kind = "Create" if request_type == "TakeOver" else request_type
        handler.apply(kind, props, props if kind == "Update" else None, bedrock, ssm)
        calls += bedrock.calls + ssm.calls
    assert {c.origin: c.errors for c in calls if c.errors} == {}
    record_property("validated_calls", len(calls))
    print(f"service-model validation: {len(calls)} handler calls ({request_type})")
    done = {c.operation for c in calls}
    assert "GetModelInvocationLoggingConfiguration" in done
    if request_type in ("Create", "Update", "TakeOver"):
        assert "PutModelInvocationLoggingConfiguration" in done
    if request_type == "TakeOver":
        assert "PutParameter" in done  # the previous configuration is saved first
    if request_type == "Delete":
        assert "DeleteModelInvocationLoggingConfiguration" in done


def test_a_broken_logging_config_fails(platform: Any) -> None:
    desired = json.loads(logging_config(platform, "us-east-1")["LoggingConfig"])
    assert validate_call("bedrock", "PutModelInvocationLoggingConfiguration",
                         {"loggingConfig": desired}) == []
    desired["s3Config"]["bucketName"] = "b" * 64  # bucket names have at most 63 characters
    desired["cloudWatchConfig"]["roleArn"] = "DeliveryRole"  # a role name is not its ARN
    desired["textDataDeliveryEnabled"] = "yes"
    errors = validate_call("bedrock", "PutModelInvocationLoggingConfiguration",
                           {"loggingConfig": desired})
    assert any("bucketName" in e and "too large" in e for e in errors), errors
    assert any("roleArn" in e and "pattern" in e for e in errors), errors
    assert any("textDataDeliveryEnabled" in e for e in errors), errors
