"""A VPC whose model traffic never leaves it: interface endpoints, private DNS, flow logs.

Example::

    from aws_cdk import Stack
    from skyrelay.constructs.network import PrivateModelNetwork

    net = PrivateModelNetwork(
        stack, "Net",
        cidr="10.10.0.0/16",
        availability_zones=["us-east-1a", "us-east-1b"],
        invoke_arns=["arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"],
    )
    net.vpc                          # the VPC (ec2.IVpc), for ECS services, SageMaker jobs ...
    net.bedrock_runtime_endpoint     # BedrockModelAccess(vpc_endpoint_id=<its vpc_endpoint_id>)

In a stack with a concrete environment (``env=Environment(account=..., region=...)``), CDK
checks the given ``availability_zones`` against the stack's own zones, which it looks up with
credentials (context key ``availability-zones:account=…:region=…``). To synthesize offline,
give the stack the same zones, either by overriding its ``availability_zones`` property::

    class MyStack(Stack):
        @property
        def availability_zones(self) -> list[str]:
            return ["us-east-1a", "us-east-1b"]

or by putting that context key with the same list into your cdk.json. skyrelay's own stacks
do the former (:class:`skyrelay.stacks.common.RegionStack`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from skyrelay.constructs.secure_defaults import (
    INLINE_POLICY_REASON,
    acknowledge,
    allow_cloudwatch_logs,
    data_key,
    encrypted_log_group,
)

#: IAM actions behind the four bedrock-runtime inference APIs: Converse is authorized as
#: bedrock:InvokeModel and ConverseStream as bedrock:InvokeModelWithResponseStream.
BEDROCK_INVOKE_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")

#: Interface endpoints the platform needs, by short name.
DEFAULT_INTERFACE_SERVICES: Mapping[str, ec2.InterfaceVpcEndpointAwsService] = {
    "bedrock-runtime": ec2.InterfaceVpcEndpointAwsService.BEDROCK_RUNTIME,
    "bedrock": ec2.InterfaceVpcEndpointAwsService.BEDROCK,
    "sagemaker.api": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "sagemaker.runtime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
    "secretsmanager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "kms": ec2.InterfaceVpcEndpointAwsService.KMS,
    "ecr.api": ec2.InterfaceVpcEndpointAwsService.ECR,
    "ecr.dkr": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
}


#: Subnet masks per availability zone, in allocation order. With NAT gateways: public (NAT
#: only), private (workloads) and data (caches); without: one isolated subnet. The platform
#: spec's validation sizes VPCs with the same table (a test keeps the two equal).
EGRESS_SUBNET_MASKS = (24, 20, 24)
ISOLATED_SUBNET_MASKS = (20,)


@runtime_checkable
class IPrivateModelNetwork(Protocol):
    """What another stack needs from a model network (the gateway service, training jobs)."""

    @property
    def vpc(self) -> ec2.IVpc:
        """The VPC."""

    @property
    def bedrock_runtime_endpoint(self) -> ec2.IInterfaceVpcEndpoint:
        """The bedrock-runtime interface endpoint."""

    @property
    def endpoint_security_group(self) -> ec2.ISecurityGroup:
        """The security group every interface endpoint uses."""

    @property
    def workload_subnets(self) -> ec2.SubnetSelection:
        """The private subnets where workloads run."""

    @property
    def data_subnets(self) -> ec2.SubnetSelection:
        """Subnets with no route out of the VPC at all, for data stores (caches, databases)."""


class PrivateModelNetwork(Construct):
    """A private VPC with the AWS service endpoints model workloads need, and flow logs.

    * Interface endpoints for every service in ``interface_services`` (default:
      :data:`DEFAULT_INTERFACE_SERVICES`) with private DNS, plus an S3 gateway endpoint.
    * One endpoint security group admitting TCP 443 only from the VPC's CIDR and the given
      ``allowed_peers``; endpoints are created with ``open=False``.
    * The bedrock-runtime endpoint's policy allows only the invoke actions, only on
      ``invoke_arns`` and only for principals of this account (an empty list denies all).
    * VPC flow logs (all traffic) to a KMS-encrypted log group with retention.
    * With ``nat_gateways=0`` (the default) the VPC has isolated subnets only: no internet
      gateway at all. Give ``nat_gateways`` > 0 for workloads that must reach another cloud;
      the VPC then also has isolated ``data`` subnets (:attr:`data_subnets`, no route out)
      for data stores, and :attr:`egress_ips` holds the NAT gateways' public addresses.

    Pass ``vpc`` to add the endpoints and flow logs to an existing VPC instead.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        invoke_arns: Sequence[str],
        vpc: ec2.IVpc | None = None,
        cidr: str = "10.0.0.0/16",
        availability_zones: Sequence[str] | None = None,
        nat_gateways: int = 0,
        allowed_peers: Sequence[ec2.IPeer] = (),
        interface_services: Mapping[str, ec2.InterfaceVpcEndpointAwsService] | None = None,
        flow_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        if any(arn == "*" or arn.endswith(":*") for arn in invoke_arns):
            raise ValueError("invoke_arns must name models and profiles, not wildcards")
        self.vpc: ec2.IVpc = vpc or self._new_vpc(cidr, availability_zones, nat_gateways)
        self.workload_subnets = ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS if nat_gateways
            else ec2.SubnetType.PRIVATE_ISOLATED
        ) if vpc is None else ec2.SubnetSelection(subnets=self.vpc.private_subnets
                                                   or self.vpc.isolated_subnets)
        self.data_subnets = ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
        ) if vpc is None else ec2.SubnetSelection(subnets=self.vpc.isolated_subnets
                                                   or self.vpc.private_subnets)
        #: Public addresses of the NAT gateways this construct made (what another cloud's
        #: firewall must admit); empty without NAT gateways or for a VPC passed in.
        self.egress_ips: list[str] = [
            eip.attr_public_ip for subnet in self.vpc.public_subnets
            if isinstance(eip := subnet.node.try_find_child("EIP"), ec2.CfnEIP)
        ] if vpc is None else []

        self.encryption_key = encryption_key or data_key(self, "FlowLogKey", "VPC flow logs")
        allow_cloudwatch_logs(self.encryption_key, self)
        self.flow_log_group = encrypted_log_group(self, "FlowLogs", self.encryption_key,
                                                  flow_log_retention)
        flow_log = self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        acknowledge(flow_log, INLINE_POLICY_REASON, "NIST.800.53.R5-IAMNoInlinePolicy")

        self.endpoint_security_group = ec2.SecurityGroup(
            self, "EndpointSecurityGroup",
            vpc=self.vpc,
            description="Interface endpoints: HTTPS from inside the VPC only",
            allow_all_outbound=False,
        )
        # The literal CIDR when this construct made the VPC: checks can then see it is private.
        vpc_cidr = cidr if vpc is None else self.vpc.vpc_cidr_block
        self.endpoint_security_group.add_ingress_rule(
            ec2.Peer.ipv4(vpc_cidr), ec2.Port.tcp(443), "HTTPS from the VPC")
        if vpc is not None:
            acknowledge(
                self.endpoint_security_group,
                "The only ingress source is the VPC's own CIDR block (resolved at deploy "
                "time), on TCP 443; nothing is open to the internet",
                "AwsSolutions-EC23", "NIST.800.53.R5-EC2RestrictedCommonPorts",
                "NIST.800.53.R5-EC2RestrictedSSH",
            )
        for peer in allowed_peers:
            self.endpoint_security_group.add_ingress_rule(peer, ec2.Port.tcp(443),
                                                          "HTTPS from an allowed peer")

        subnets = self.workload_subnets
        self.interface_endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        for name, service in (interface_services or DEFAULT_INTERFACE_SERVICES).items():
            self.interface_endpoints[name] = self.vpc.add_interface_endpoint(
                _endpoint_id(name),
                service=service,
                private_dns_enabled=True,
                open=False,
                security_groups=[self.endpoint_security_group],
                subnets=subnets,
            )
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3)

        if "bedrock-runtime" not in self.interface_endpoints:
            raise ValueError("interface_services must include 'bedrock-runtime'")
        self.bedrock_runtime_endpoint: ec2.InterfaceVpcEndpoint = (
            self.interface_endpoints["bedrock-runtime"])
        if invoke_arns:
            self.bedrock_runtime_endpoint.add_to_policy(iam.PolicyStatement(
                sid="InvokeListedModelsFromThisAccount",
                principals=[iam.AnyPrincipal()],
                actions=list(BEDROCK_INVOKE_ACTIONS),
                resources=list(dict.fromkeys(invoke_arns)),
                conditions={"StringEquals": {
                    "aws:PrincipalAccount": cdk.Stack.of(self).account}},
            ))
        else:  # no statement at all would mean the default policy: full access
            self.bedrock_runtime_endpoint.add_to_policy(iam.PolicyStatement(
                sid="NoModelsListed", effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()], actions=["*"], resources=["*"],
            ))

    def _new_vpc(self, cidr: str, azs: Sequence[str] | None, nat_gateways: int) -> ec2.Vpc:
        if nat_gateways:
            public, private, data = EGRESS_SUBNET_MASKS
            subnets = [
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC,
                                        cidr_mask=public, map_public_ip_on_launch=False),
                ec2.SubnetConfiguration(name="private",
                                        subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                                        cidr_mask=private),
                # Last in the list, so adding it left the CIDRs of the groups above unchanged.
                ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
                                        cidr_mask=data),
            ]
        else:
            subnets = [ec2.SubnetConfiguration(
                name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
                cidr_mask=ISOLATED_SUBNET_MASKS[0])]
        vpc = ec2.Vpc(
            self, "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            # Explicit zones keep synth free of context lookups (no credentials needed).
            availability_zones=list(azs) if azs else None,
            max_azs=None if azs else 2,
            nat_gateways=nat_gateways,
            subnet_configuration=subnets,
            enable_dns_hostnames=True,  # private DNS on interface endpoints needs both
            enable_dns_support=True,
            restrict_default_security_group=True,
        )
        for subnet in vpc.public_subnets:
            acknowledge(
                subnet,
                "Public subnets exist only when NAT gateways are asked for and hold nothing but "
                "the NAT gateways: their route to the internet gateway is the workloads' only "
                "path to model endpoints outside AWS; no instance gets a public address",
                "NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW",
            )
        return vpc


def _endpoint_id(name: str) -> str:
    """``bedrock-runtime`` -> ``BedrockRuntimeEndpoint`` (stable logical ids)."""
    return "".join(part.capitalize() for part in name.replace(".", "-").split("-")) + "Endpoint"
