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
from aws_cdk import custom_resources as cr
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

    def job_egress_peers(self) -> list[ec2.IPeer]:
        """The VPC endpoints as security-group peers (interface endpoints' group, S3 list)."""


class PrivateModelNetwork(Construct):
    """A private VPC with the AWS service endpoints model workloads need, and flow logs.

    * Interface endpoints for every service in ``interface_services`` (default:
      :data:`DEFAULT_INTERFACE_SERVICES`) with private DNS, plus an S3 gateway endpoint.
    * One endpoint security group admitting TCP 443 only from the VPC's CIDR and the given
      ``allowed_peers``; endpoints are created with ``open=False``.
    * The bedrock-runtime endpoint's policy allows only the invoke actions, only on
      ``invoke_arns`` and only for principals of this account (an empty list denies all);
      every other endpoint, the S3 gateway endpoint included, admits principals of this
      account only (no endpoint keeps the default full-access policy).
    * ``availability_zone_ids`` (``use1-az1`` ...) lays subnets out by zone ID
      (``AvailabilityZoneId``), the same physical zones in every account; a stack with a
      concrete environment must then answer those IDs as its ``availability_zones``.
    * :meth:`job_egress_peers` gives the endpoints as security-group peers (the S3 prefix
      list is looked up at deploy time by a read-only DescribeManagedPrefixLists call).
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
        availability_zone_ids: Sequence[str] | None = None,
        nat_gateways: int = 0,
        allowed_peers: Sequence[ec2.IPeer] = (),
        interface_services: Mapping[str, ec2.InterfaceVpcEndpointAwsService] | None = None,
        flow_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        if any(arn == "*" or arn.endswith(":*") for arn in invoke_arns):
            raise ValueError("invoke_arns must name models and profiles, not wildcards")
        if availability_zones and availability_zone_ids:
            raise ValueError("give availability_zones (names) or availability_zone_ids, "
                             "not both")
        self.vpc: ec2.IVpc = vpc or self._new_vpc(
            cidr, availability_zone_ids or availability_zones, nat_gateways)
        if vpc is None and availability_zone_ids:
            _subnets_by_zone_id(self.vpc)
        self._s3_prefix_list_id: str | None = None
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
        stack = cdk.Stack.of(self)
        # The trust policy the flow-logs documentation gives (confused-deputy conditions):
        # https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html
        flow_log_role = iam.Role(self, "FlowLogRole", assumed_by=iam.ServicePrincipal(
            "vpc-flow-logs.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {"aws:SourceArn": f"arn:{stack.partition}:ec2:{stack.region}:"
                                             f"{stack.account}:vpc-flow-log/*"}}))
        flow_log = self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group,
                                                                   flow_log_role),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        acknowledge(flow_log_role, INLINE_POLICY_REASON, "NIST.800.53.R5-IAMNoInlinePolicy")
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
        # Without a statement an endpoint has the default policy: full access for anyone.
        # Every endpoint here supports a policy (the "Supports endpoint policy" column of
        # https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html);
        # each is held to principals of this account (aws:PrincipalAccount, as in
        # https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html).
        # aws:ResourceAccount is not used: ECR keeps image layers in AWS-owned S3 buckets.
        for name, endpoint in self.interface_endpoints.items():
            if name != "bedrock-runtime":  # it gets its own, narrower policy below
                endpoint.add_to_policy(_this_account_only(stack.account))
        self.s3_endpoint.add_to_policy(_this_account_only(stack.account))

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

    @property
    def s3_prefix_list_id(self) -> str:
        """The id of the region's S3 managed prefix list (``com.amazonaws.<region>.s3``),
        looked up at deploy time (its id differs per region and cannot be known offline).
        Security groups allow the S3 gateway endpoint by naming it."""
        if self._s3_prefix_list_id is None:
            stack = cdk.Stack.of(self)
            call = cr.AwsSdkCall(
                service="EC2", action="describeManagedPrefixLists",
                parameters={"Filters": [{"Name": "prefix-list-name",
                                         "Values": [f"com.amazonaws.{stack.region}.s3"]}]},
                physical_resource_id=cr.PhysicalResourceId.of("s3-prefix-list"),
                output_paths=["PrefixLists.0.PrefixListId"])
            # Its own log group, encrypted and kept like the flow logs: with the recommended
            # flag @aws-cdk/aws-lambda:useCdkManagedLogGroup CDK would otherwise add a
            # plain one for the provider's function.
            lookup = cr.AwsCustomResource(
                self, "S3PrefixList", on_create=call, on_update=call,
                install_latest_aws_sdk=False,
                log_group=encrypted_log_group(self, "S3PrefixListLogs", self.encryption_key,
                                              logs.RetentionDays.ONE_YEAR),
                policy=cr.AwsCustomResourcePolicy.from_sdk_calls(
                    resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE))
            acknowledge_lookup(lookup)
            self._s3_prefix_list_id = lookup.get_response_field("PrefixLists.0.PrefixListId")
        return self._s3_prefix_list_id

    def job_egress_peers(self) -> list[ec2.IPeer]:
        """Where a workload that may reach nothing but the VPC endpoints sends HTTPS: the
        interface endpoints' security group and the S3 gateway endpoint's prefix list."""
        return [ec2.Peer.security_group_id(self.endpoint_security_group.security_group_id),
                ec2.Peer.prefix_list(self.s3_prefix_list_id)]

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


def _this_account_only(account: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid="OnlyPrincipalsOfThisAccount", principals=[iam.AnyPrincipal()], actions=["*"],
        resources=["*"], conditions={"StringEquals": {"aws:PrincipalAccount": account}})


def _subnets_by_zone_id(vpc: ec2.Vpc) -> None:
    """The VPC was laid out with zone IDs in place of names: each subnet names its zone by
    ``AvailabilityZoneId`` (one physical zone in every account), not ``AvailabilityZone``
    (letters map to different zones per account). CloudFormation takes either:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-subnet.html
    """
    for subnet in [*vpc.public_subnets, *vpc.private_subnets, *vpc.isolated_subnets]:
        cfn = subnet.node.default_child
        assert isinstance(cfn, ec2.CfnSubnet)
        zone_id = cfn.availability_zone
        cfn.availability_zone = None
        cfn.availability_zone_id = zone_id


def acknowledge_lookup(lookup: cr.AwsCustomResource) -> None:
    """The findings of CDK's AwsCustomResource provider, which runs one read-only call at
    deploy time (its function is a singleton of the stack, with CDK's own role)."""
    stack = cdk.Stack.of(lookup)
    acknowledge(lookup, "DescribeManagedPrefixLists accepts no resource-level permission, so "
                "the lookup's only statement names '*'; it is a read-only describe call",
                "AwsSolutions-IAM5[Resource::*]")
    acknowledge(lookup, INLINE_POLICY_REASON, "NIST.800.53.R5-IAMNoInlinePolicy")
    provider = stack.node.try_find_child(
        "AWS679f53fac002430cb0da5b7982bd2287")  # AwsCustomResource's singleton function id
    if provider is not None:
        acknowledge(
            provider,
            "CDK's AwsCustomResource provider: a deploy-time custom-resource handler that makes "
            "one read-only EC2 describe call and reports to CloudFormation; it holds no data, so "
            "a VPC, reserved concurrency or a dead-letter queue would protect nothing, and its "
            "role and runtime are the ones CDK manages",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]", "AwsSolutions-L1",
            "NIST.800.53.R5-LambdaInsideVPC", "NIST.800.53.R5-LambdaConcurrency",
            "NIST.800.53.R5-LambdaDLQ", "NIST.800.53.R5-IAMNoInlinePolicy")


def _endpoint_id(name: str) -> str:
    """``bedrock-runtime`` -> ``BedrockRuntimeEndpoint`` (stable logical ids)."""
    return "".join(part.capitalize() for part in name.replace(".", "-").split("-")) + "Endpoint"
