"""PrivateLink: a private endpoint for one Azure resource, with its private DNS.

Creates (or reuses) a virtual network and subnet, a private endpoint for the target's
``group_id``, one private DNS zone per name (or reuses zones given by id or as resources,
e.g. zones shared by several endpoints in one resource group) with a link to the virtual
network, and a DNS zone group so Azure keeps the A records in those zones up to date.

Every link waits for its zone: a zone created here is the link's parent and its name an
Output of the zone; a shared zone given as a resource is an explicit ``depends_on``, and one
given by id lends the link its name through that id (so an Output id carries the zone's
dependency too). Without that, ``pulumi up`` could create a link before its zone.

Example::

    import pulumi
    from skyrelay.pulumi.components.private_link import PrivateLink, PrivateLinkArgs

    link = PrivateLink("contoso-openai", PrivateLinkArgs(
        resource_group_name="rg-contoso",
        location="swedencentral",
        target_resource_id=account.id,
        group_id="account",
        dns_zone_names=ACCOUNT_DNS_ZONES,
        vnet_cidr="10.100.0.0/24",
    ))
    pulumi.export("virtualNetworkId", link.virtual_network_id)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi_azure_native import network, privatedns

from skyrelay.pulumi.components.args import ExistingNetwork
from skyrelay.pulumi.components.validation import (
    AzureArgsError,
    check_cidr,
    check_input,
    check_location,
    check_subnet_cidr,
)

#: Private DNS zones of a Cognitive Services account's ``account`` sub-resource: the
#: Cognitive Services, Azure OpenAI and Foundry endpoints
#: (https://learn.microsoft.com/azure/private-link/private-endpoint-dns, "AI + Machine
#: Learning": Microsoft.CognitiveServices/accounts, subresource account).
ACCOUNT_DNS_ZONES = ("privatelink.cognitiveservices.azure.com",
                     "privatelink.openai.azure.com", "privatelink.services.ai.azure.com")
#: Kept for callers of the first release (the two zones a kind ``OpenAI`` account used).
OPENAI_DNS_ZONES = ACCOUNT_DNS_ZONES


def zone_name_from_id(zone_id: str, expected: str) -> str:
    """The zone name at the end of a private DNS zone id, checked against ``expected``."""
    name = str(zone_id).rstrip("/").rsplit("/", 1)[-1]
    if "/privateDnsZones/" not in str(zone_id) or name.lower() != expected.lower():
        raise AzureArgsError(f"private link: dns_zone_ids[{expected!r}] is {zone_id!r}, not "
                             f"the id of a private DNS zone named {expected}")
    return name


@dataclass(frozen=True)
class PrivateLinkArgs:
    """Arguments of :class:`PrivateLink`.

    Give ``existing_network`` to place the endpoint in a subnet that already exists;
    otherwise a virtual network with ``vnet_cidr`` and one subnet are created: spanning it,
    or ``subnet_cidr`` inside it (the rest left for other subnets, e.g. a VPN gateway's).
    ``endpoint_depends_on`` delays the endpoint (e.g. until a service's writes are done).
    ``dns_zone_ids`` (zone name -> resource id, or the ``privatedns.PrivateZone`` itself)
    names zones that exist already in ``resource_group_name``: they are linked, not created.
    A zone name is unique per resource group, so endpoints that share a group must share its
    zones. ``location`` may be an Output (checked once known).
    """

    resource_group_name: pulumi.Input[str]
    location: pulumi.Input[str]
    target_resource_id: pulumi.Input[str]
    group_id: str
    dns_zone_names: Sequence[str]
    vnet_cidr: str = "10.100.0.0/24"
    subnet_cidr: str | None = None
    existing_network: ExistingNetwork | None = None
    endpoint_depends_on: Sequence[pulumi.Resource] = ()
    dns_zone_ids: Mapping[str, Any] = field(default_factory=dict)
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
            check_subnet_cidr("private link: subnet_cidr", self.subnet_cidr, self.vnet_cidr)
        object.__setattr__(self, "location", check_input(
            self.location, lambda v: check_location("private link", v)))


class PrivateLink(pulumi.ComponentResource):
    """A private endpoint with DNS zones, links and a zone group (see module docstring).

    Azure names derive from the component's name (``vnet-<name>``, ``pe-<name>``,
    ``link-<name>``). Attributes: ``virtual_network`` and ``subnet`` (None when an existing
    network is used), ``private_endpoint``, ``dns_zones`` (zone name -> zone created here),
    ``dns_links`` (zone name -> link); outputs ``subnet_id``, ``virtual_network_id``,
    ``private_endpoint_id``, ``dns_zone_ids``.
    """

    virtual_network: network.VirtualNetwork | None
    subnet: network.Subnet | None
    private_endpoint: network.PrivateEndpoint
    dns_zones: dict[str, privatedns.PrivateZone]
    dns_links: dict[str, privatedns.VirtualNetworkLink]

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
                address_prefix=args.subnet_cidr or args.vnet_cidr,
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
        self.subnet_id: pulumi.Output[str] = pulumi.Output.from_input(subnet_id)
        self.virtual_network_id: pulumi.Output[str] = pulumi.Output.from_input(vnet_id)

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
        self.private_endpoint_id: pulumi.Output[str] = self.private_endpoint.id

        self.dns_zones = {}
        self.dns_links = {}
        zone_ids: dict[str, pulumi.Input[str]] = {}
        configs = []
        for zone_name in args.dns_zone_names:
            label = zone_name.removeprefix("privatelink.").rsplit(".azure.com", 1)[0]
            label = label.replace(".", "-")
            zone_ref, link_opts = self._zone(name, label, zone_name, args, tags, zone_ids)
            self.dns_links[zone_name] = privatedns.VirtualNetworkLink(
                f"{name}-dns-{label}-link", opts=link_opts,
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
        self.dns_zone_ids = zone_ids

        self.register_outputs({
            "privateEndpointId": self.private_endpoint_id,
            "subnetId": self.subnet_id,
            "virtualNetworkId": self.virtual_network_id,
            "dnsZoneIds": zone_ids,
        })

    def _zone(self, name: str, label: str, zone_name: str, args: PrivateLinkArgs,
              tags: dict[str, str], zone_ids: dict[str, pulumi.Input[str]],
              ) -> tuple[pulumi.Input[str], pulumi.ResourceOptions]:
        """The zone name the link refers to, and the link's options (parent, depends_on)."""
        given = args.dns_zone_ids.get(zone_name)
        if isinstance(given, privatedns.PrivateZone):
            zone_ids[zone_name] = given.id
            return given.name, pulumi.ResourceOptions(parent=self, depends_on=[given])
        if given is not None:
            zone_ids[zone_name] = given
            # The name comes from the id: an Output id brings its zone's dependency along.
            ref = check_input(given, lambda v: zone_name_from_id(v, zone_name))
            if not isinstance(ref, pulumi.Output):
                return zone_name, pulumi.ResourceOptions(parent=self)
            return (ref.apply(lambda v: zone_name_from_id(v, zone_name)),
                    pulumi.ResourceOptions(parent=self))
        zone = privatedns.PrivateZone(
            f"{name}-dns-{label}", opts=pulumi.ResourceOptions(parent=self),
            private_zone_name=zone_name,
            resource_group_name=args.resource_group_name,
            location="global",
            tags=tags,
        )
        self.dns_zones[zone_name] = zone
        zone_ids[zone_name] = zone.id
        return zone.name, pulumi.ResourceOptions(parent=zone, depends_on=[zone])
