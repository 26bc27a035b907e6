"""Per-region network stack: the private model VPC and its endpoints."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from skyrelay.constructs.network import DEFAULT_INTERFACE_SERVICES, PrivateModelNetwork
from skyrelay.spec import Spec
from skyrelay.stacks.common import RegionStack, retention
from skyrelay.views.bedrock_arns import bedrock_invoke_arns


class NetworkStack(RegionStack):
    """The VPC of one region; other stacks use :attr:`network` (vpc, bedrock-runtime endpoint).

    NAT gateways (one per zone) exist only where the gateway runs and has targets outside
    AWS (Azure OpenAI, OpenAI-compatible endpoints); elsewhere the VPC has no internet path.
    """

    def __init__(self, scope: Construct, id: str, *, spec: Spec, region: str,
                 **kwargs: Any) -> None:
        super().__init__(scope, id, spec=spec, region=region, **kwargs)
        assert spec.aws is not None
        cfg = spec.aws.regions[region]
        account = spec.aws.account or self.account
        needs_egress = region in spec.gateway.regions and bool(spec.azure
                                                                or spec.openai_compatible)
        services = dict(DEFAULT_INTERFACE_SERVICES)
        if region in spec.gateway.regions and spec.gateway.tracing.exporter == "adot-xray":
            # the gateway's collector sidecar exports to X-Ray from inside the VPC
            services["xray"] = ec2.InterfaceVpcEndpointAwsService.XRAY
        self.network = PrivateModelNetwork(
            self, "Network",
            invoke_arns=bedrock_invoke_arns(spec, region, account).all(),
            cidr=cfg.vpc_cidr,
            availability_zone_ids=self.availability_zones,
            nat_gateways=len(self.availability_zones) if needs_egress else 0,
            interface_services=services,
            flow_log_retention=retention(spec.aws.invocation_logging.log_retention_days),
        )
        cdk.CfnOutput(self, "VpcId", value=self.network.vpc.vpc_id)
        cdk.CfnOutput(self, "BedrockRuntimeEndpointId",
                      value=self.network.bedrock_runtime_endpoint.vpc_endpoint_id)
        if self.network.egress_ips:
            # Read by `skyrelay link` (from `cdk deploy --outputs-file`): the addresses
            # Azure's network rules must admit for gateway-egress-only accounts.
            cdk.CfnOutput(self, "GatewayEgressIps", value=cdk.Fn.join(",", self.network.egress_ips),
                          description="Public addresses of the NAT gateways, comma-separated")
