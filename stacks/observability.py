"""Per-region observability stack: Bedrock dashboard and alarms."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from skyrelay.constructs.observability import ModelObservability
from skyrelay.spec import Spec
from skyrelay.stacks.common import RegionStack


class ObservabilityStack(RegionStack):
    """Dashboard ``<platform>-<region>`` and alarms; the gateway adds widgets to
    :attr:`observability` with ``add_widgets`` and alarms with ``add_alarm``."""

    def __init__(self, scope: Construct, id: str, *, spec: Spec, region: str,
                 **kwargs: Any) -> None:
        super().__init__(scope, id, spec=spec, region=region, **kwargs)
        assert spec.aws is not None
        alarms = spec.aws.alarms
        self.observability = ModelObservability(
            self, "Observability",
            model_ids=[m.model_id for m in spec.aws.regions[region].bedrock_models],
            dashboard_name=f"{spec.name}-{region}",
            throttles_per_5min=alarms.throttles_per_5min,
            server_errors_per_5min=alarms.server_errors_per_5min,
            p99_latency_ms=alarms.p99_latency_ms,
            notify_emails=alarms.notify_emails,
        )
        cdk.CfnOutput(self, "AlarmTopicArn", value=self.observability.topic.topic_arn)
