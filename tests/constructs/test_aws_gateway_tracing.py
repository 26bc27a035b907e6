"""The ADOT collector sidecar (``constructs/gateway_tracing.py``) in a user's own task, with
no spec: what the container is, how it is configured, and the exact X-Ray grant."""

from __future__ import annotations

from typing import Any

import pytest
import yaml


@pytest.fixture(scope="module")
def task() -> dict[str, Any]:
    import aws_cdk as cdk
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_logs as logs
    from aws_cdk.assertions import Template

    from skyrelay.constructs.gateway_tracing import AdotXraySidecar

    app = cdk.App()
    stack = cdk.Stack(app, "UserStack", env=cdk.Environment(account="111122223333",
                                                             region="eu-west-1"))
    role = iam.Role(stack, "TaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    definition = ecs.FargateTaskDefinition(stack, "Task", cpu=512, memory_limit_mib=1024,
                                           task_role=role)
    app_container = definition.add_container(
        "app", image=ecs.ContainerImage.from_registry("example/app:1"))
    group = logs.LogGroup(stack, "Logs", retention=logs.RetentionDays.ONE_WEEK)
    sidecar = AdotXraySidecar(stack, "Tracing", task_definition=definition, task_role=role,
                              log_group=group, app_container=app_container)
    template = Template.from_stack(stack).to_json()
    (task_def,) = [r for r in template["Resources"].values()
                   if r["Type"] == "AWS::ECS::TaskDefinition"]
    containers = {c["Name"]: c for c in task_def["Properties"]["ContainerDefinitions"]}
    role_id = stack.get_logical_id(role.node.default_child)  # type: ignore[arg-type]
    policies = [r["Properties"]["PolicyDocument"]["Statement"]
                for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                and {"Ref": role_id} in r["Properties"]["Roles"]]
    return {"containers": containers, "policies": policies, "sidecar": sidecar}


def test_the_collector_is_the_pinned_image_and_not_essential(task: dict[str, Any]) -> None:
    from skyrelay.constructs.gateway_tracing import ADOT_VERSION

    collector = task["containers"]["adot-collector"]
    assert collector["Image"] == \
        f"public.ecr.aws/aws-observability/aws-otel-collector:{ADOT_VERSION}"
    assert ADOT_VERSION.startswith("v0.") and ADOT_VERSION != "latest"
    assert collector["Essential"] is False  # a dead collector loses spans, never requests
    assert collector["Memory"] == 256 and collector["MemoryReservation"] == 64
    assert collector["ReadonlyRootFilesystem"] is True
    assert collector["Command"] == ["--config=env:SKYRELAY_ADOT_CONFIG"]
    assert collector["LogConfiguration"]["Options"]["awslogs-stream-prefix"] == "adot"
    # the app starts after the collector, so its first spans have somewhere to go
    assert task["containers"]["app"]["DependsOn"] == [
        {"ContainerName": "adot-collector", "Condition": "START"}]


def test_the_config_listens_on_loopback_http_only_and_exports_to_xray(
        task: dict[str, Any]) -> None:
    (env,) = task["containers"]["adot-collector"]["Environment"]
    assert env["Name"] == "SKYRELAY_ADOT_CONFIG"
    config = yaml.safe_load(env["Value"])
    assert config["receivers"] == {"otlp": {"protocols": {"http": {
        "endpoint": "127.0.0.1:4318"}}}}  # no gRPC, nothing outside the task
    assert config["exporters"] == {"awsxray": {"region": "eu-west-1"}}
    assert config["service"]["pipelines"] == {"traces": {
        "receivers": ["otlp"], "processors": ["batch/traces"], "exporters": ["awsxray"]}}
    assert set(config["service"]["pipelines"]) == {"traces"}  # no metrics: no logs grant


def test_the_gateway_sends_where_the_collector_listens() -> None:
    from skyrelay.constructs.gateway_tracing import collector_config
    from skyrelay.gateway.envnames import OTLP_HTTP_PORT, SIDECAR_TRACES_ENDPOINT

    endpoint = yaml.safe_load(collector_config("us-east-1"))["receivers"]["otlp"][
        "protocols"]["http"]["endpoint"]
    assert f"http://{endpoint}/v1/traces" == SIDECAR_TRACES_ENDPOINT
    assert endpoint.endswith(f":{OTLP_HTTP_PORT}")


def test_the_task_role_gets_exactly_the_four_xray_actions(task: dict[str, Any]) -> None:
    # (the awslogs driver's grant goes to the execution role, not here)
    statements = [s for doc in task["policies"] for s in doc]
    assert statements == [{"Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                      "xray:GetSamplingRules", "xray:GetSamplingTargets"],
                           "Effect": "Allow", "Resource": "*"}]


def test_a_tiny_memory_limit_is_refused() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_logs as logs

    from skyrelay.constructs.gateway_tracing import AdotXraySidecar

    stack = cdk.Stack(cdk.App(), "S")
    role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    definition = ecs.FargateTaskDefinition(stack, "T", task_role=role)
    with pytest.raises(ValueError, match="at least 64"):
        AdotXraySidecar(stack, "Tracing", task_definition=definition, task_role=role,
                        log_group=logs.LogGroup(stack, "L"), memory_limit_mib=32)
