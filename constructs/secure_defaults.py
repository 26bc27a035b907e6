"""Secure building blocks the skyrelay constructs share: customer keys, log groups, buckets.

Every helper returns a resource that is encrypted with a customer-managed KMS key and kept
(``RemovalPolicy.RETAIN``) when its stack is deleted, because each one holds data or protects
data that outlives a deployment.

Example::

    key = data_key(self, "Key", "my data")
    logs = encrypted_log_group(self, "Logs", key, logs.RetentionDays.ONE_YEAR)
    bucket = secure_bucket(self, "Data", key)
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct


def data_key(scope: Construct, id: str, purpose: str) -> kms.Key:
    """A customer-managed KMS key with yearly rotation, retained when the stack goes."""
    return kms.Key(
        scope, id,
        description=f"skyrelay: {purpose}",
        enable_key_rotation=True,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


def allow_cloudwatch_logs(key: kms.IKey, scope: Construct) -> None:
    """Let CloudWatch Logs in this account and region use ``key`` for its log groups.

    The encryption-context condition limits the grant to log groups of this account.
    """
    stack = cdk.Stack.of(scope)
    key.add_to_resource_policy(iam.PolicyStatement(
        sid="AllowCloudWatchLogs",
        principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
        actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                 "kms:Describe*"],
        resources=["*"],  # in a key policy, "*" means this key
        conditions={"ArnLike": {
            "kms:EncryptionContext:aws:logs:arn":
                f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*",
        }},
    ))


def encrypted_log_group(
    scope: Construct,
    id: str,
    key: kms.IKey,
    retention: logs.RetentionDays,
    *,
    log_group_name: str | None = None,
) -> logs.LogGroup:
    """A KMS-encrypted log group with retention, retained on stack deletion (audit data)."""
    return logs.LogGroup(
        scope, id,
        log_group_name=log_group_name,
        encryption_key=key,
        retention=retention,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


def secure_bucket(scope: Construct, id: str, key: kms.IKey) -> s3.Bucket:
    """A KMS-encrypted, versioned, SSL-only, private bucket, retained on stack deletion."""
    return s3.Bucket(
        scope, id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        versioned=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
