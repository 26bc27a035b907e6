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
    """A KMS-encrypted, versioned, SSL-only, private bucket, retained on stack deletion.

    It has no server access logs and no replication, on purpose (see the acknowledgments).
    """
    bucket = s3.Bucket(
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
    acknowledge(
        bucket,
        "S3 delivers server access logs only to a bucket encrypted with SSE-S3, and the "
        "platform requires a customer-managed KMS key on every bucket; object-level access "
        "to this bucket is recorded by CloudTrail S3 data events instead",
        "AwsSolutions-S1", "NIST.800.53.R5-S3BucketLoggingEnabled",
    )
    acknowledge(
        bucket,
        "Replication would copy prompts, datasets or model artifacts to another region, "
        "which the platform's data-residency rules forbid; versioning and RETAIN protect "
        "the objects within the region",
        "NIST.800.53.R5-S3BucketReplicationEnabled",
    )
    return bucket


def acknowledge(scope: Construct, reason: str, *rule_ids: str) -> None:
    """Record that ``rule_ids`` (cdk-nag findings) are accepted on ``scope``, and why.

    The reason is part of the synthesized assembly's validation report, so it must convince
    a reviewer on its own.
    """
    cdk.Validations.of(scope).acknowledge(
        *(cdk.Acknowledgment(id=rule_id, reason=reason) for rule_id in rule_ids))


def nag_ref(resource: Construct, attribute: str = "Arn") -> str:
    """How cdk-nag writes ``Fn::GetAtt`` of ``resource`` in a finding id: ``<LogicalId.Arn>``."""
    child = resource.node.default_child
    assert isinstance(child, cdk.CfnElement), f"{resource.node.path} has no CFN resource"
    return f"<{cdk.Stack.of(resource).get_logical_id(child)}.{attribute}>"


#: The role policies CDK's ``grant*`` methods write are inline: one policy per role, deleted
#: with it. NIST's IAMNoInlinePolicy check would have every such grant become a managed policy.
INLINE_POLICY_REASON = (
    "CDK writes each role's grants as one inline policy owned by that role alone and deleted "
    "with it; every statement is scoped to this construct's own resources, so a separate "
    "managed policy would add a second lifecycle without narrowing any permission"
)


def nag_rendering(scope: Construct, value: str) -> str:
    """``value`` as cdk-nag writes it in a finding id: intrinsics become ``<Ref>`` or
    ``<LogicalId.Attribute>``, e.g. ``<DataBucketE3889A50.Arn>/*``."""
    resolved = cdk.Stack.of(scope).resolve(value)

    def render(part: object) -> str:
        if isinstance(part, str):
            return part
        if isinstance(part, dict) and "Ref" in part:
            return f"<{part['Ref']}>"
        if isinstance(part, dict) and "Fn::GetAtt" in part:
            logical_id, attribute = part["Fn::GetAtt"]
            return f"<{logical_id}.{attribute}>"
        if isinstance(part, dict) and "Fn::Join" in part:
            sep, items = part["Fn::Join"]
            return str(sep).join(render(item) for item in items)
        raise ValueError(f"cannot render {part!r} as cdk-nag does")

    return render(resolved)


def acknowledge_wildcards(scope: Construct, statements: list[iam.PolicyStatement],
                          reason: str) -> None:
    """Acknowledge AwsSolutions-IAM5 for each wildcard action and resource of ``statements``.

    cdk-nag v3 has one finding per wildcard, so each is named; ``reason`` must hold for all.
    """
    ids: list[str] = []
    for statement in statements:
        ids += [f"AwsSolutions-IAM5[Action::{a}]" for a in statement.actions if "*" in a]
        for resource in statement.resources:
            rendered = nag_rendering(scope, resource)
            if "*" in rendered:
                ids.append(f"AwsSolutions-IAM5[Resource::{rendered}]")
    if ids:
        acknowledge(scope, reason, *dict.fromkeys(ids))
