"""PrivateLink: a private endpoint for one Azure resource, with its private DNS.

Creates (or reuses) a virtual network and subnet, a private endpoint for the target's
``group_id``, one private DNS zone per name (or reuses zones given by id, e.g. zones shared by
several endpoints in one resource group) with a link to the virtual network, and a DNS zone
group so Azure keeps the A records in those zones up to date.

Example::

    import pulumi
    from skyrelay.pulumi.components.private_link import PrivateLink, PrivateLinkArgs

    link = PrivateLink("contoso-openai", PrivateLinkArgs(
        resource_group_name="rg-contoso",
        location="swedencentral",
        target_resource_id=account.id,
        group_id="account",
        dns_zone_names=("privatelink.openai.azure.com",
                        "privatelink.cognitiveservices.azure.com"),
        vnet_cidr="10.100.0.0/24",
    ))
    pulumi.export("privateEndpointId", link.private_endpoint.id)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import network, privatedns

from skyrelay.pulumi.components.args import AzureArgsError, ExistingNetwork, check_cidr

#: Private DNS zones of an Azure OpenAI account (the ``account`` sub-resource).
OPENAI_DNS_ZONES = ("privatelink.openai.azure.com", "privatelink.cognitiveservices.azure.com")


@dataclass(frozen=True)
class PrivateLinkArgs:
    """Arguments of :class:`PrivateLink`.

    Give ``existing_network`` to place the endpoint in a subnet that already exists;
    otherwise a virtual network with ``vnet_cidr`` and one subnet spanning it are created.
    ``endpoint_depends_on`` delays the endpoint (e.g. until a service's writes are done).
    ``dns_zone_ids`` (zone name -> resource id) names zones that exist already in
    ``resource_group_name``: they are linked, not created. A zone name is unique per resource
    group, so endpoints that share a group must share its zones.
    """

    resource_group_name: pulumi.Input[str]
    location: str
    target_resource_id: pulumi.Input[str]
    group_id: str
    dns_zone_names: Sequence[str]
    vnet_cidr: str = "10.100.0.0/24"
    existing_network: ExistingNetwork | None = None
    endpoint_depends_on: Sequence[pulumi.Resource] = ()
    dns_zone_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.group_id:
            raise AzureArgsError("private link: group_id must name the target's sub-resource")
        if not self.dns_zone_names:
            raise AzureArgsError("private link: at least one private DNS zone name is needed")
        for zone in self.dns_zone_names:
            if not zone.startswith("privatelink."):
                raise AzureArgsError(f"private link: {zone!r} is not a privatelink.* zone")
        extra = sorted(set(self.dns_zone_ids) - set(self.dns_zone_names))
        if extra:
            raise AzureArgsError(f"private link: dns_zone_ids names zones not in "
                                 f"dns_zone_names: {extra}")
        if self.existing_network is None:
            check_cidr("private link: vnet_cidr", self.vnet_cidr)


class PrivateLink(pulumi.ComponentResource):
    """A private endpoint with DNS zones, links and a zone group (see module docstring).

    Attributes: ``virtual_network`` and ``subnet`` (None when an existing network is used),
    ``private_endpoint``, ``dns_zones`` (zone name -> zone), ``subnet_id``.
    """

    virtual_network: network.VirtualNetwork | None
    subnet: network.Subnet | None
    private_endpoint: network.PrivateEndpoint
    dns_zones: dict[str, privatedns.PrivateZone]

    def __init__(self, name: str, args: PrivateLinkArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("skyrelay:azure:PrivateLink", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        if args.existing_network is None:
            self.virtual_network = network.VirtualNetwork(
                f"{name}-vnet", opts=child,
                virtual_network_name=f"vnet-{name}",
                resource_group_name=args.resource_group_name,
                location=args.location,
                address_space=network.AddressSpaceArgs(address_prefixes=[args.vnet_cidr]),
                tags=tags,
            )
            # A separate Subnet resource is safe: since network API 2023-09-01 a virtual
            # network PUT without a `subnets` property leaves existing subnets alone.
            self.subnet = network.Subnet(
                f"{name}-pe-subnet", opts=pulumi.ResourceOptions(parent=self.virtual_network),
                subnet_name="private-endpoints",
                virtual_network_name=self.virtual_network.name,
                resource_group_name=args.resource_group_name,
                address_prefix=args.vnet_cidr,
                # No implicit internet egress from this subnet: it only hosts endpoints.
                default_outbound_access=False,
                private_endpoint_network_policies="Disabled",
            )
            subnet_id: pulumi.Input[str] = self.subnet.id
            vnet_id: pulumi.Input[str] = self.virtual_network.id
        else:
            self.virtual_network = None
            self.subnet = None
            subnet_id = args.existing_network.subnet_id
            vnet_id = args.existing_network.virtual_network_id
        self.subnet_id = pulumi.Output.from_input(subnet_id)

        self.private_endpoint = network.PrivateEndpoint(
            f"{name}-pe",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.endpoint_depends_on)),
            private_endpoint_name=f"pe-{name}",
            resource_group_name=args.resource_group_name,
            location=args.location,
            subnet=network.SubnetArgs(id=subnet_id),
            private_link_service_connections=[network.PrivateLinkServiceConnectionArgs(
                name=f"{name}-{args.group_id}",
                private_link_service_id=args.target_resource_id,
                group_ids=[args.group_id],
            )],
            tags=tags,
        )

        self.dns_zones = {}
        zone_ids: dict[str, pulumi.Input[str]] = {}
        configs = []
        for zone_name in args.dns_zone_names:
            label = zone_name.removeprefix("privatelink.").split(".")[0]
            link_parent: pulumi.Resource = self
            if zone_name in args.dns_zone_ids:
                zone_ids[zone_name] = args.dns_zone_ids[zone_name]
                zone_ref: pulumi.Input[str] = zone_name
            else:
                zone = privatedns.PrivateZone(
                    f"{name}-dns-{label}", opts=child,
                    private_zone_name=zone_name,
                    resource_group_name=args.resource_group_name,
                    location="global",
                    tags=tags,
                )
                self.dns_zones[zone_name] = zone
                zone_ids[zone_name] = zone.id
                zone_ref, link_parent = zone.name, zone
            privatedns.VirtualNetworkLink(
                f"{name}-dns-{label}-link", opts=pulumi.ResourceOptions(parent=link_parent),
                virtual_network_link_name=f"link-{name}",
                private_zone_name=zone_ref,
                resource_group_name=args.resource_group_name,
                location="global",
                registration_enabled=False,
                virtual_network=privatedns.SubResourceArgs(id=vnet_id),
                tags=tags,
            )
            configs.append(network.PrivateDnsZoneConfigArgs(
                name=zone_name.replace(".", "-"), private_dns_zone_id=zone_ids[zone_name]))

        self.dns_zone_group = network.PrivateDnsZoneGroup(
            f"{name}-pe-dns", opts=pulumi.ResourceOptions(parent=self.private_endpoint),
            private_dns_zone_group_name="default",
            private_endpoint_name=self.private_endpoint.name,
            resource_group_name=args.resource_group_name,
            private_dns_zone_configs=configs,
        )

        self.register_outputs({
            "privateEndpointId": self.private_endpoint.id,
            "subnetId": self.subnet_id,
            "dnsZoneIds": zone_ids,
        })
