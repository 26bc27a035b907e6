"""IAM statements of the fine-tuning pipeline that the AWS documentation spells out.

Example::

    role = iam.Role(scope, "JobRole", assumed_by=iam.ServicePrincipal(
        "bedrock.amazonaws.com",
        conditions=source_conditions(stack, "bedrock", "model-customization-job/*")))
    for statement in bedrock_customization_vpc_statements(stack, subnets, group):
        role.add_to_policy(statement)
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam


def source_conditions(stack: cdk.Stack, service: str,
                      resource: str) -> dict[str, dict[str, str]]:
    """``aws:SourceAccount`` and ``aws:SourceArn`` for a service principal's trust: only this
    account's ``service`` resources (``resource``, e.g. ``training-job/*``) may use the role
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html)."""
    return {"StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:{service}:{stack.region}:"
                                         f"{stack.account}:{resource}"}}


def bedrock_customization_vpc_statements(stack: cdk.Stack, subnets: Sequence[ec2.ISubnet],
                                         security_group: ec2.ISecurityGroup
                                         ) -> list[iam.PolicyStatement]:
    """What a model customization job in a VPC needs on its service role:
    https://docs.aws.amazon.com/bedrock/latest/userguide/vpc-model-customization.html"""
    job_arns = stack.format_arn(service="bedrock", resource="model-customization-job",
                                resource_name="*")
    eni_arns = stack.format_arn(service="ec2", resource="network-interface",
                                resource_name="*")
    subnet_arns = [stack.format_arn(service="ec2", resource="subnet",
                                    resource_name=s.subnet_id) for s in subnets]
    group = stack.format_arn(service="ec2", resource="security-group",
                             resource_name=security_group.security_group_id)
    return [
        iam.PolicyStatement(
            actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
                     "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets",
                     "ec2:DescribeSecurityGroups"], resources=["*"]),
        iam.PolicyStatement(
            actions=["ec2:CreateNetworkInterface"], resources=[eni_arns],
            conditions={"StringEquals": {"aws:RequestTag/BedrockManaged": ["true"]},
                        "ArnEquals": {
                            "aws:RequestTag/BedrockModelCustomizationJobArn": [job_arns]}}),
        iam.PolicyStatement(actions=["ec2:CreateNetworkInterface"],
                            resources=[*subnet_arns, group]),
        iam.PolicyStatement(
            actions=["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
                     "ec2:DeleteNetworkInterfacePermission"], resources=["*"],
            conditions={"ArnEquals": {
                "ec2:Subnet": subnet_arns,
                "ec2:ResourceTag/BedrockModelCustomizationJobArn": [job_arns]},
                "StringEquals": {"ec2:ResourceTag/BedrockManaged": "true"}}),
        iam.PolicyStatement(
            actions=["ec2:CreateTags"], resources=[eni_arns],
            conditions={"StringEquals": {"ec2:CreateAction": ["CreateNetworkInterface"]},
                        "ForAllValues:StringEquals": {"aws:TagKeys": [
                            "BedrockManaged", "BedrockModelCustomizationJobArn"]}}),
    ]


def sagemaker_training_statements(stack: cdk.Stack) -> tuple[list[iam.PolicyStatement],
                                                             list[iam.PolicyStatement]]:
    """A training job's own log streams, and the metric and image-token calls that take no
    resource (the first list is scoped to the SageMaker training log group)."""
    group_arn = stack.format_arn(service="logs", resource="log-group",
                                 resource_name="/aws/sagemaker/TrainingJobs",
                                 arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
    logs = [iam.PolicyStatement(
        actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                 "logs:DescribeLogStreams"],
        resources=[group_arn, f"{group_arn}:log-stream:*"])]
    unscoped = [
        iam.PolicyStatement(actions=["cloudwatch:PutMetricData"], resources=["*"],
                            conditions={"StringLike": {
                                "cloudwatch:namespace": "/aws/sagemaker/*"}}),
        iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])]
    return logs, unscoped


def sagemaker_vpc_statement() -> iam.PolicyStatement:
    """The network-interface and describe calls of a training job in a VPC (no resource
    scoping is possible when SageMaker makes them)."""
    return iam.PolicyStatement(
        actions=["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                 "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
                 "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
                 "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets",
                 "ec2:DescribeSecurityGroups"],
        resources=["*"])
