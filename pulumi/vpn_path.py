"""The private path of an Azure account (``gateway_path: private-vpn``): spec + config -> SiteVpn.

For each private-vpn account the program puts the private endpoints in the first half of the
account's ``vnet_cidr`` and builds a :class:`~skyrelay.pulumi.components.site_vpn.SiteVpn` in
the same network: the GatewaySubnet and the resolver's inbound subnet where
:func:`skyrelay.spec.vpn_checks.vpn_layout` puts them, one AWS peer per gateway region (its
inside /30s from :func:`skyrelay.spec.vpn_checks.vpn_slots`, Amazon's default ASN), and the
tunnels ``skyrelay link`` wrote into the stack config:

- ``skyrelay:vpnTunnels`` (plain): ``{account: [{"peer", "instance", "tunnel",
  "outsideIp"}, ...]}``, each entry what :meth:`skyrelay.vpn_link.TunnelLink.config` gives;
  absent on the first ``pulumi up``, which builds the gateway and the resolver only;
- one secret per tunnel, named by :func:`skyrelay.vpn_link.secret_config_key`
  (``skyrelay:vpnKey-<account>-<peer>-<instance>-<tunnel>``), read only as a secret.

The account's privatelink zones are linked to that network by its private endpoint's
:class:`~skyrelay.pulumi.components.private_link.PrivateLink`, so the resolver, in the same
network, answers for them.

Example (what the program does per account)::

    tunnels = parse_vpn_tunnels(config.get_object("vpnTunnels"))
    keys = read_tunnel_keys(config, tunnels)
    vpn, outputs = build_site_vpn(spec, acct, account_component, tunnels.get(acct.name, ()),
                                  keys, tags={"env": "prod"})
    # outputs == {"publicIps": [...], "resolverIp": "10.100.0.164", "asn": 65515}
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from skyrelay.pulumi.components import OpenAIAccount
from skyrelay.pulumi.components.site_vpn import AwsPeer, AwsTunnel, SiteVpn, SiteVpnArgs
from skyrelay.pulumi.components.validation import AzureArgsError
from skyrelay.spec import Spec
from skyrelay.spec.models import AzureAccount
from skyrelay.spec.vpn_checks import AWS_DEFAULT_ASN, vpn_layout, vpn_slots
from skyrelay.vpn_link import TUNNELS_KEY, secret_config_key
from skyrelay.vpn_plan import inside_cidrs

#: ``skyrelay:vpnTunnels`` without its namespace, as ``pulumi.Config("skyrelay")`` reads it.
TUNNELS_CONFIG = TUNNELS_KEY.split(":", 1)[1]


@dataclass(frozen=True)
class TunnelSetting:
    """One AWS tunnel from ``skyrelay:vpnTunnels``: the AWS peer (a gateway region), the Azure
    instance it ends on, its number within that connection, and AWS's outside address."""

    peer: str
    instance: int
    tunnel: int
    outside_ip: str

    def key_name(self, account: str) -> str:
        """The config key (namespace included) of this tunnel's pre-shared key."""
        return secret_config_key(account, self.peer, self.instance, self.tunnel)


def _tunnel(where: str, entry: Any) -> TunnelSetting:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object {{peer, instance, tunnel, outsideIp}}")
    peer, instance, tunnel, ip = (entry.get(k) for k in ("peer", "instance", "tunnel",
                                                           "outsideIp"))
    if not isinstance(peer, str) or not peer:
        raise ValueError(f"{where}.peer must name the AWS gateway region")
    for key, value in (("instance", instance), ("tunnel", tunnel)):
        if isinstance(value, bool) or value not in (0, 1):
            raise ValueError(f"{where}.{key} must be 0 or 1, got {value!r}")
    try:
        public = isinstance(ip, str) and ipaddress.IPv4Address(ip).is_global
    except ValueError:
        public = False
    if not public:
        raise ValueError(f"{where}.outsideIp must be the tunnel's public IPv4 address, got "
                         f"{ip!r}")
    return TunnelSetting(peer, int(instance or 0), int(tunnel or 0), str(ip))


def parse_vpn_tunnels(raw: Any) -> dict[str, tuple[TunnelSetting, ...]]:
    """``skyrelay:vpnTunnels`` (None: no tunnel yet) per account; ``ValueError`` names each
    malformed entry.

    Example::

        parse_vpn_tunnels({"acct": [{"peer": "eu-west-1", "instance": 0, "tunnel": 0,
                                     "outsideIp": "52.48.10.1"}]})
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{TUNNELS_KEY} must be an object {{account: [tunnel, ...]}} as "
                         "`skyrelay link` writes it")
    problems: list[str] = []
    out: dict[str, tuple[TunnelSetting, ...]] = {}
    for account, entries in raw.items():
        where = f"{TUNNELS_KEY}.{account}"
        if not isinstance(entries, list):
            problems.append(f"{where} must be a list of tunnels")
            continue
        parsed = []
        for k, entry in enumerate(entries):
            try:
                parsed.append(_tunnel(f"{where}[{k}]", entry))
            except ValueError as exc:
                problems.append(str(exc))
        out[str(account)] = tuple(parsed)
    if problems:
        raise ValueError("; ".join(problems))
    return out


def read_tunnel_keys(config: pulumi.Config,
                     tunnels: Mapping[str, Sequence[TunnelSetting]]
                     ) -> dict[str, pulumi.Output[str]]:
    """The pre-shared key of every configured tunnel that has one, keyed by its config key
    name; each is read as a secret (never as plain text) and stays one."""
    keys: dict[str, pulumi.Output[str]] = {}
    for account, entries in tunnels.items():
        for t in entries:
            name = t.key_name(account)
            value = config.get_secret(name.split(":", 1)[1])
            if value is not None:
                keys[name] = value
    return keys


def _peers(spec: Spec, acct: AzureAccount) -> list[AwsPeer]:
    slots = vpn_slots(spec)
    return [AwsPeer(region, inside_cidrs(slots[(acct.name, region)]), asn=AWS_DEFAULT_ASN)
            for region in spec.gateway.regions] or [AwsPeer()]


def site_vpn_args(spec: Spec, acct: AzureAccount, tunnels: Sequence[TunnelSetting],
                  keys: Mapping[str, pulumi.Input[str]], *,
                  resource_group_name: pulumi.Input[str], virtual_network_name: pulumi.Input[str],
                  virtual_network_id: pulumi.Input[str], workspace_id: pulumi.Input[str],
                  subnets_after: Sequence[pulumi.Resource] = (),
                  tags: Mapping[str, str] | None = None) -> SiteVpnArgs:
    """The SiteVpn of one private-vpn account; ``AzureArgsError`` (or ``ValueError``) says
    what cannot be built."""
    settings = acct.vpn_settings
    if settings is None:
        raise AzureArgsError(f"account {acct.name!r} has gateway_path {acct.gateway_path!r}, "
                             "not private-vpn")
    layout = vpn_layout(acct)
    missing = [t.key_name(acct.name) for t in tunnels if t.key_name(acct.name) not in keys]
    if missing:
        raise AzureArgsError(
            f"no pre-shared key for tunnel(s) {', '.join(missing)}: run `skyrelay link` after "
            "`cdk deploy` (step 4), which sets each as a secret")
    regions = set(spec.gateway.regions)
    strangers = sorted({t.peer for t in tunnels} - regions)
    if strangers:
        raise AzureArgsError(f"{TUNNELS_KEY}.{acct.name} names {strangers}, which are not "
                             f"gateway regions ({', '.join(spec.gateway.regions) or 'none'})")
    return SiteVpnArgs(
        resource_group_name=resource_group_name, location=acct.location,
        virtual_network_name=virtual_network_name, virtual_network_id=virtual_network_id,
        gateway_subnet_cidr=layout.gateway, resolver_subnet_cidr=layout.resolver,
        workspace_id=workspace_id, peers=_peers(spec, acct), asn=settings.asn, sku=settings.sku,
        tunnels=[AwsTunnel(t.instance, t.tunnel, t.outside_ip, keys[t.key_name(acct.name)],
                           peer=t.peer) for t in tunnels],
        subnets_after=subnets_after, tags=dict(tags or {}))


def private_path_problems(spec: Spec, tunnels: Mapping[str, Sequence[TunnelSetting]],
                          keys: Mapping[str, pulumi.Input[str]],
                          existing_networks: Mapping[str, Any]) -> list[str]:
    """Every reason the private paths cannot be built, checked before any resource exists."""
    accounts = {a.name: (i, a) for i, a in enumerate(spec.azure.accounts if spec.azure else ())}
    problems = []
    for name in tunnels:
        if name not in accounts or accounts[name][1].gateway_path != "private-vpn":
            problems.append(f"config {TUNNELS_KEY} names {name!r}, which is no private-vpn "
                            "account of the spec")
    for name, (i, acct) in accounts.items():
        if acct.gateway_path != "private-vpn":
            continue
        where = f"azure.accounts[{i}] ({name})"
        if name in existing_networks:
            problems.append(f"{where}: a private-vpn account builds its own network (the "
                            "GatewaySubnet and the resolver go next to the private endpoint); "
                            "remove it from config skyrelay:existingNetworks")
            continue
        try:
            site_vpn_args(spec, acct, tunnels.get(name, ()), keys, resource_group_name="rg",
                          virtual_network_name="vnet", workspace_id="law",
                          virtual_network_id="/subscriptions/0/resourceGroups/rg")
        except (AzureArgsError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
    return problems


def build_site_vpn(spec: Spec, acct: AzureAccount, account: OpenAIAccount,
                   tunnels: Sequence[TunnelSetting], keys: Mapping[str, pulumi.Input[str]],
                   tags: Mapping[str, str] | None = None,
                   opts: pulumi.ResourceOptions | None = None) -> tuple[SiteVpn, dict[str, Any]]:
    """The account's SiteVpn in the network of its private endpoint, and the stack outputs
    ``accounts.<name>.vpn`` (``publicIps``, ``resolverIp``, ``asn``) that
    :meth:`skyrelay.vpn_link.AzureVpnOutputs.from_account_outputs` reads."""
    link = account.private_link
    if link.virtual_network is None or link.subnet is None:
        raise AzureArgsError(f"account {acct.name!r}: a private-vpn account needs the network "
                             "its component creates")
    args = site_vpn_args(spec, acct, tunnels, keys,
                         resource_group_name=account.resource_group_name,
                         virtual_network_name=link.virtual_network.name,
                         virtual_network_id=account.virtual_network_id,
                         workspace_id=account.diagnostics.workspace_id,
                         subnets_after=[link.subnet], tags=tags)
    vpn = SiteVpn(acct.name, args, opts=opts)
    return vpn, {"publicIps": vpn.public_ip_addresses, "resolverIp": vpn.resolver_ip,
                 "asn": args.asn}
