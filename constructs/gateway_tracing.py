"""The AWS Distro for OpenTelemetry (ADOT) collector as a sidecar of an ECS task, exporting
the app's OTLP/HTTP traces to AWS X-Ray.

What it adds to ``task_definition``, and why:

* a container ``adot-collector`` from ``image`` (default
  ``public.ecr.aws/aws-observability/aws-otel-collector`` at the pinned
  :data:`ADOT_VERSION`, the latest release when checked:
  https://github.com/aws-observability/aws-otel-collector/releases) whose whole
  configuration is inline (:func:`collector_config`, read through the collector's ``env:``
  config provider, https://aws-otel.github.io/docs/components/confmap-providers): an OTLP
  receiver on ``127.0.0.1:4318`` only (HTTP; no gRPC, nothing outside the task), a batch
  processor and the ``awsxray`` exporter. No metrics or logs pipeline, so the task role
  needs X-Ray permissions only;
* on the task role exactly ``xray:PutTraceSegments``, ``xray:PutTelemetryRecords``,
  ``xray:GetSamplingRules`` and ``xray:GetSamplingTargets`` (the X-Ray part of the ECS
  guide's list, https://docs.aws.amazon.com/AmazonECS/latest/developerguide/trace-data.html;
  none of the CloudWatch Logs or SSM actions there, which only its metrics configurations
  use). X-Ray defines no resource types for these actions, so ``Resource`` is ``*``
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html);
* the collector is not essential (a collector that dies loses spans, never requests), has
  a hard memory limit so it cannot starve the app, a read-only root file system, and logs
  to ``log_group``; ``app_container`` starts after it, so the first spans are not lost.

The collector needs a path to X-Ray (``com.amazonaws.<region>.xray`` interface endpoint or
NAT) and, for the default image from ECR Public, NAT to pull it; give ``image`` (an ECR
pull-through cache of ECR Public, say) for a VPC without NAT.

Example::

    tracing = AdotXraySidecar(stack, "Tracing", task_definition=gateway.task_definition,
                              task_role=gateway.task_role, log_group=gateway.log_group,
                              app_container=gateway.container)
    tracing.container.container_name      # "adot-collector"
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from skyrelay.constructs.secure_defaults import acknowledge

# The port the gateway sends to (its derived config names the same one).
from skyrelay.gateway.envnames import OTLP_HTTP_PORT

#: The pinned ADOT collector release (checked 2026-12-02: v0.49.0, released 2026-07-14).
ADOT_VERSION = "v0.49.0"
ADOT_IMAGE = f"public.ecr.aws/aws-observability/aws-otel-collector:{ADOT_VERSION}"
#: The environment variable the collector reads its configuration from.
CONFIG_ENV = "SKYRELAY_ADOT_CONFIG"
#: The X-Ray actions the awsxray exporter and X-Ray sampling use (no resource types: "*").
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords",
                "xray:GetSamplingRules", "xray:GetSamplingTargets")
HEALTH_PORT = 13133


def collector_config(region: str, otlp_port: int = OTLP_HTTP_PORT) -> str:
    """The collector's YAML: OTLP/HTTP on loopback -> batch -> awsxray in ``region``.

    >>> "awsxray" in collector_config("us-east-1")
    True
    """
    return "\n".join([
        "extensions:",
        "  health_check:",
        f"    endpoint: 127.0.0.1:{HEALTH_PORT}",
        "receivers:",
        "  otlp:",
        "    protocols:",
        "      http:",
        f"        endpoint: 127.0.0.1:{otlp_port}",
        "processors:",
        "  batch/traces:",
        "    timeout: 1s",
        "    send_batch_size: 50",
        "exporters:",
        "  awsxray:",
        f"    region: {region}",
        "service:",
        "  extensions: [health_check]",
        "  pipelines:",
        "    traces:",
        "      receivers: [otlp]",
        "      processors: [batch/traces]",
        "      exporters: [awsxray]",
        "",
    ])


class AdotXraySidecar(Construct):
    """The ADOT collector sidecar exporting to X-Ray (see the module docstring).

    :attr:`container` is the collector's container definition, :attr:`policy` the X-Ray
    statement added to ``task_role``.
    """

    def __init__(self, scope: Construct, id: str, *,
                 task_definition: ecs.TaskDefinition, task_role: iam.IRole,
                 log_group: logs.ILogGroup,
                 app_container: ecs.ContainerDefinition | None = None,
                 image: ecs.ContainerImage | None = None,
                 memory_limit_mib: int = 256, otlp_port: int = OTLP_HTTP_PORT) -> None:
        super().__init__(scope, id)
        if memory_limit_mib < 64:
            raise ValueError("memory_limit_mib must be at least 64 (the collector's floor)")
        region = cdk.Stack.of(self).region
        self.container = task_definition.add_container(
            "adot-collector",
            image=image or ecs.ContainerImage.from_registry(ADOT_IMAGE),
            essential=False,
            command=[f"--config=env:{CONFIG_ENV}"],
            environment={CONFIG_ENV: collector_config(region, otlp_port)},
            memory_limit_mib=memory_limit_mib,
            memory_reservation_mib=min(64, memory_limit_mib),
            readonly_root_filesystem=True,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="adot", log_group=log_group),
        )
        if app_container is not None:
            app_container.add_container_dependencies(ecs.ContainerDependency(
                container=self.container, condition=ecs.ContainerDependencyCondition.START))
        self.policy = iam.PolicyStatement(actions=list(XRAY_ACTIONS), resources=["*"])
        task_role.add_to_principal_policy(self.policy)
        acknowledge(
            task_role,
            "X-Ray defines no resource types for PutTraceSegments, PutTelemetryRecords, "
            "GetSamplingRules and GetSamplingTargets, so IAM requires Resource '*'; these "
            "four are the only X-Ray actions granted (the ADOT collector sidecar's export)",
            "AwsSolutions-IAM5[Resource::*]")
