"""Account-level Bedrock model invocation logging to CloudWatch Logs and S3.

CloudFormation has no resource for this setting, so a custom resource (Lambda source in
``invocation_logging_handler/``) calls ``PutModelInvocationLoggingConfiguration`` on create
and update and removes or restores the setting on delete. The setting is one per account and
region: the handler refuses to overwrite a configuration it did not create unless
``take_over_existing=True`` (and then restores the previous one on delete).

Example::

    logging = ModelInvocationLogging(
        stack, "InvocationLogging",
        retention=logs.RetentionDays.ONE_YEAR,
        text=True, image=False, embedding=False,
    )
    logging.log_group, logging.bucket, logging.encryption_key
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from skyrelay.constructs.secure_defaults import (
    INLINE_POLICY_REASON,
    acknowledge,
    allow_cloudwatch_logs,
    data_key,
    encrypted_log_group,
    nag_ref,
    secure_bucket,
)

HANDLER_DIR = Path(__file__).parent / "invocation_logging_handler"
#: Never in the Lambda asset: pip compiles installed files (and tests import the handler),
#: so bytecode caches would give every install its own asset hash and a needless redeploy.
ASSET_EXCLUDE = ["__pycache__", "*.pyc", "*.pyo", ".*"]
#: Actions on the account-wide setting; the service defines no resource type for them.
SETTINGS_ACTIONS = (
    "bedrock:GetModelInvocationLoggingConfiguration",
    "bedrock:PutModelInvocationLoggingConfiguration",
    "bedrock:DeleteModelInvocationLoggingConfiguration",
)


class ModelInvocationLogging(Construct):
    """Bedrock invocation logs to a KMS-encrypted log group and an SSL-only, versioned bucket.

    Creates the KMS key (unless given), the log group (with retention), the bucket (retained
    on delete), the role Bedrock assumes to write to CloudWatch Logs, the bucket policy that
    lets Bedrock write from this account only, and the custom resource that sets the
    account's configuration. ``text``, ``image`` and ``embedding`` choose which data types
    are delivered (prompts and completions contain personal data: log only what you need).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        text: bool = True,
        image: bool = False,
        embedding: bool = False,
        key_prefix: str = "bedrock-invocations",
        encryption_key: kms.IKey | None = None,
        take_over_existing: bool = False,
    ) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        source_conditions = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:bedrock:{stack.region}:"
                                         f"{stack.account}:*"},
        }

        self.encryption_key = encryption_key or data_key(self, "Key",
                                                         "Bedrock invocation logs")
        allow_cloudwatch_logs(self.encryption_key, self)
        # Bedrock writes S3 objects encrypted with the bucket's key on the account's behalf.
        self.encryption_key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowBedrockLogDelivery",
            principals=[iam.ServicePrincipal("bedrock.amazonaws.com")],
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=["*"],
            conditions=source_conditions,
        ))
        self.log_group = encrypted_log_group(self, "LogGroup", self.encryption_key, retention)
        self.bucket = secure_bucket(self, "Bucket", self.encryption_key)
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowBedrockLogDelivery",
            principals=[iam.ServicePrincipal("bedrock.amazonaws.com")],
            actions=["s3:PutObject"],
            resources=[self.bucket.arn_for_objects(f"{key_prefix}/*")],
            conditions=source_conditions,
        ))

        self.delivery_role = iam.Role(
            self, "DeliveryRole",
            description="Assumed by Bedrock to write model invocation logs",
            assumed_by=iam.ServicePrincipal("bedrock.amazonaws.com", conditions=source_conditions),
        )
        self.delivery_role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[f"{self.log_group.log_group_arn}:log-stream:*"],
        ))

        handler_logs = encrypted_log_group(self, "HandlerLogs", self.encryption_key, retention)
        # An explicit role: the default one would carry the AWSLambdaBasicExecutionRole
        # managed policy (logs on every group); this one writes to its own group only.
        handler_role = iam.Role(self, "HandlerRole",
                                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        handler_role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[f"{handler_logs.log_group_arn}:log-stream:*"],
        ))
        self.handler = lambda_.Function(
            self, "Handler",
            description="Sets the account's Bedrock model invocation logging configuration",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.handle",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=ASSET_EXCLUDE),
            timeout=cdk.Duration.minutes(2),
            role=handler_role,
            log_group=handler_logs,
        )
        state_param = f"/skyrelay/{stack.stack_name}/bedrock-invocation-logging/previous"
        handler_role.add_to_policy(iam.PolicyStatement(
            actions=list(SETTINGS_ACTIONS), resources=["*"]))
        handler_role.add_to_policy(iam.PolicyStatement(
            actions=["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"],
            resources=[stack.format_arn(service="ssm", resource="parameter",
                                        resource_name=state_param.lstrip("/"))],
        ))
        self.delivery_role.grant_pass_role(handler_role)

        acknowledge(self.delivery_role,
                    "Bedrock names the log streams it creates, so the role may write to any "
                    "stream of this one log group and no other",
                    f"AwsSolutions-IAM5[Resource::{nag_ref(self.log_group)}:log-stream:*]")
        acknowledge(handler_role,
                    "The Lambda service names the handler's log streams; the grant covers the "
                    "streams of the handler's own log group only",
                    f"AwsSolutions-IAM5[Resource::{nag_ref(handler_logs)}:log-stream:*]")
        acknowledge(handler_role,
                    "Get/Put/DeleteModelInvocationLoggingConfiguration act on the account's "
                    "single Bedrock setting and have no resource type in IAM, so '*' is the "
                    "only resource they accept; no other action is granted on '*'",
                    "AwsSolutions-IAM5[Resource::*]")
        acknowledge(handler_role, INLINE_POLICY_REASON, "NIST.800.53.R5-IAMNoInlinePolicy")
        acknowledge(self.delivery_role, INLINE_POLICY_REASON, "NIST.800.53.R5-IAMNoInlinePolicy")
        acknowledge(
            self.handler,
            "A CloudFormation custom-resource handler: it runs only during deployments of this "
            "stack, calls only the Bedrock and SSM control planes, holds no data, and always "
            "reports its outcome to CloudFormation itself, so a VPC, reserved concurrency or "
            "a dead-letter queue would protect nothing (reserving concurrency can even fail "
            "in accounts at the minimum limit)",
            "NIST.800.53.R5-LambdaInsideVPC", "NIST.800.53.R5-LambdaConcurrency",
            "NIST.800.53.R5-LambdaDLQ",
        )

        config = {
            "cloudWatchConfig": {
                "logGroupName": self.log_group.log_group_name,
                "roleArn": self.delivery_role.role_arn,
                "largeDataDeliveryS3Config": {"bucketName": self.bucket.bucket_name,
                                              "keyPrefix": f"{key_prefix}/large-data"},
            },
            "s3Config": {"bucketName": self.bucket.bucket_name, "keyPrefix": key_prefix},
            "textDataDeliveryEnabled": text,
            "imageDataDeliveryEnabled": image,
            "embeddingDataDeliveryEnabled": embedding,
        }
        self.resource = cdk.CustomResource(
            self, "Configuration",
            service_token=self.handler.function_arn,
            resource_type="Custom::BedrockInvocationLogging",
            properties={
                "LoggingConfig": stack.to_json_string(config),
                "StateParameterName": state_param,
                "TakeOverExisting": "true" if take_over_existing else "false",
            },
        )
        # Bedrock checks that it can write to both destinations when the setting is made.
        # (The delivery role is referenced by the config, which already orders it first.)
        self.resource.node.add_dependency(self.bucket.policy or self.bucket)
        self.resource.node.add_dependency(self.delivery_role.node.find_child("DefaultPolicy"))
