"""A CloudWatch dashboard and alarms for Bedrock models, with room for the gateway's metrics.

Metrics come from the ``AWS/Bedrock`` namespace with the ``ModelId`` dimension (the id used
in the call: a foundation-model id or an inference-profile id). Counts and token totals use
the ``Sum`` statistic; latency uses percentiles.

Example::

    obs = ModelObservability(
        stack, "Observability",
        model_ids=["amazon.nova-pro-v1:0", "us.anthropic.claude-sonnet-4-20250514-v1:0"],
        notify_emails=["oncall@example.com"],
    )
    obs.add_widgets(cloudwatch.GraphWidget(title="Gateway requests", left=[my_metric]))
    obs.add_alarm(my_gateway_alarm)          # notifies the same encrypted topic
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from skyrelay.constructs.secure_defaults import data_key

NAMESPACE = "AWS/Bedrock"
PERIOD = cdk.Duration.minutes(5)
#: (metric name, statistic, title) rows of the dashboard, one graph per row, one line per model.
COUNT_METRICS = (
    ("Invocations", "Sum", "Invocations"),
    ("InvocationThrottles", "Sum", "Throttles"),
    ("InvocationClientErrors", "Sum", "Client errors"),
    ("InvocationServerErrors", "Sum", "Server errors"),
    ("InputTokenCount", "Sum", "Input tokens"),
    ("OutputTokenCount", "Sum", "Output tokens"),
)
LATENCY_PERCENTILES = ("p50", "p90", "p99")


def bedrock_metric(metric_name: str, model_id: str, statistic: str) -> cloudwatch.Metric:
    """One AWS/Bedrock metric for one model id over five minutes."""
    return cloudwatch.Metric(
        namespace=NAMESPACE, metric_name=metric_name, dimensions_map={"ModelId": model_id},
        statistic=statistic, period=PERIOD, label=model_id,
    )


class ModelObservability(Construct):
    """Per-region dashboard of Bedrock metrics by model, alarms, and a KMS-encrypted topic.

    Alarms per model: throttles (Sum over 5 minutes >= ``throttles_per_5min``), server errors
    (Sum >= ``server_errors_per_5min``) and p99 InvocationLatency above ``p99_latency_ms``.
    Missing data is not breaching: an idle model is healthy.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        model_ids: Sequence[str],
        dashboard_name: str | None = None,
        throttles_per_5min: int = 10,
        server_errors_per_5min: int = 5,
        p99_latency_ms: int = 30_000,
        notify_emails: Sequence[str] = (),
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.model_ids = list(dict.fromkeys(model_ids))
        self.encryption_key = encryption_key or data_key(self, "TopicKey", "alarm notifications")
        # CloudWatch alarms publish to the encrypted topic, so CloudWatch must use the key.
        self.encryption_key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarms",
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(self).account}},
        ))
        self.topic = sns.Topic(self, "AlarmTopic", display_name="skyrelay model alarms",
                               master_key=self.encryption_key, enforce_ssl=True)
        for email in notify_emails:
            self.topic.add_subscription(subs.EmailSubscription(email))
        self._action = cw_actions.SnsAction(self.topic)

        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=dashboard_name,
            default_interval=cdk.Duration.hours(3),
        )
        self.alarms: list[cloudwatch.Alarm] = []
        self._add_model_widgets()
        for model_id in self.model_ids:
            self._add_model_alarms(model_id, throttles_per_5min, server_errors_per_5min,
                                   p99_latency_ms)

    def _add_model_widgets(self) -> None:
        self.dashboard.add_widgets(cloudwatch.TextWidget(
            markdown="# Bedrock models\nAWS/Bedrock by ModelId; counts are 5-minute sums.",
            width=24, height=2))
        graphs: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title=title, width=12,
                left=[bedrock_metric(name, m, stat) for m in self.model_ids],
            )
            for name, stat, title in COUNT_METRICS
        ]
        graphs.extend(
            cloudwatch.GraphWidget(
                title=f"Latency {pct} (ms)", width=8,
                left=[bedrock_metric("InvocationLatency", m, pct) for m in self.model_ids],
            )
            for pct in LATENCY_PERCENTILES
        )
        self.dashboard.add_widgets(*graphs)

    def _add_model_alarms(self, model_id: str, throttles: int, server_errors: int,
                          p99_ms: int) -> None:
        slug = _slug(model_id)
        specs = (
            ("Throttles", bedrock_metric("InvocationThrottles", model_id, "Sum"), throttles,
             cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
             f"{model_id}: {throttles}+ throttled calls in 5 minutes"),
            ("ServerErrors", bedrock_metric("InvocationServerErrors", model_id, "Sum"),
             server_errors, cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
             f"{model_id}: {server_errors}+ server errors in 5 minutes"),
            ("LatencyP99", bedrock_metric("InvocationLatency", model_id, "p99"), p99_ms,
             cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
             f"{model_id}: p99 latency above {p99_ms} ms"),
        )
        for kind, metric, threshold, op, description in specs:
            alarm = metric.create_alarm(
                self, f"{kind}{slug}",
                threshold=threshold,
                comparison_operator=op,
                evaluation_periods=1,
                alarm_description=description,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            self.add_alarm(alarm)

    def add_widgets(self, *widgets: cloudwatch.IWidget) -> None:
        """Add widgets (for example the gateway's own metrics) below the model graphs."""
        self.dashboard.add_widgets(*widgets)

    def add_alarm(self, alarm: cloudwatch.Alarm) -> None:
        """Send ``alarm`` (and its recovery) to the encrypted alarm topic."""
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)


def _slug(model_id: str) -> str:
    """A construct-id-safe, readable form of a model id."""
    return "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", model_id) if p)
