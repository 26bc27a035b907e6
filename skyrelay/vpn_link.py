"""The VPN half of ``skyrelay link``: what each side of a site-to-site VPN learns after a deploy.

A private path (:mod:`skyrelay.constructs.site_to_site_vpn` on AWS,
:mod:`skyrelay.pulumi.components.site_vpn` on Azure) needs values that exist only once the
other side is deployed. The deploy order terminates because each step reads only what an
earlier step wrote, and a repeated link with unchanged outputs changes nothing:

1. ``pulumi up``: the Azure gateway (two public addresses) and the DNS resolver; no tunnel yet.
2. ``skyrelay link``: :func:`aws_link_values` reads the Pulumi outputs -> per account, the
   Azure addresses, the resolver address and the Azure ASN, for the AWS stacks.
3. ``cdk deploy``: customer gateways from those addresses, VPN connections, keys generated
   into Secrets Manager; the stack outputs name the connections, the addresses they were
   built against, their inside /30s and the key secrets (:class:`AwsVpnOutputs`).
4. ``skyrelay link``: :func:`azure_tunnels` reads those outputs and one
   ``ec2:DescribeVpnConnections`` answer (the tunnels' outside addresses exist only there) ->
   the tunnels for the Pulumi config; :func:`secret_settings` turns each key into a
   ``pulumi config set --secret`` call whose value goes on standard input, never in argv or
   in a printed change.
5. ``pulumi up``: local network gateways and connections; the tunnels come up.

A missing value (an output not there yet) and a stale one (AWS built against Azure addresses
that have changed since, a connection that is gone) are :class:`VpnLinkError` problems that
say which step to run again.

Example::

    from skyrelay.vpn_link import AwsVpnOutputs, azure_tunnels
    stack = "demo-eu-west-1-vpn"
    aws = AwsVpnOutputs.from_stack_outputs(cdk_outputs[stack], stack)
    tunnels = azure_tunnels(aws, azure_public_ips, ec2.describe_vpn_connections(
        VpnConnectionIds=list(aws.connection_ids)), peer="eu-west-1")
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: CloudFormation output keys of a VPN stack (comma-separated lists, connection after
#: connection; inside CIDRs and key ARNs tunnel after tunnel within a connection).
OUTPUT_CONNECTIONS = "VpnConnectionIds"
OUTPUT_CUSTOMER_IPS = "VpnCustomerGatewayIps"
OUTPUT_INSIDE_CIDRS = "VpnTunnelInsideCidrs"
OUTPUT_KEY_ARNS = "VpnKeySecretArns"
#: Pulumi config: the tunnels (plain) and one secret per key.
TUNNELS_KEY = "skyrelay:vpnTunnels"
#: AWS's rule for a pre-shared key: letters, digits, '.', '_', 8-64 long, no leading 0
#: (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ec2-vpnconnection-vpntunneloptionsspecification.html).
_PSK = re.compile(r"^[A-Za-z1-9._][A-Za-z0-9._]{7,63}$")


class VpnLinkError(Exception):
    """Inputs are missing, malformed or stale; ``problems`` lists every one."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(dict.fromkeys(problems))
        super().__init__("\n".join(f"- {p}" for p in self.problems))


def secret_config_key(account: str, peer: str, instance: int, tunnel: int) -> str:
    """The Pulumi config key of one tunnel's key: ``skyrelay:vpnKey-<account>-<peer>-<i>-<t>``."""
    return f"skyrelay:vpnKey-{account}-{peer}-{instance}-{tunnel}"


@dataclass(frozen=True)
class AzureVpnOutputs:
    """What the first ``pulumi up`` reports for one account's gateway."""

    public_ips: tuple[str, str]
    resolver_ip: str
    asn: int

    @classmethod
    def from_account_outputs(cls, outputs: Mapping[str, Any], account: str) -> AzureVpnOutputs:
        """From ``accounts.<account>.vpn`` of ``pulumi stack output --json``."""
        where = f"Pulumi outputs: accounts.{account}.vpn"
        vpn = (outputs.get("accounts") or {}).get(account, {}).get("vpn")
        if not isinstance(vpn, Mapping):
            raise VpnLinkError([f"{where} is missing: run `pulumi up` first (step 1)"])
        problems: list[str] = []
        ips = vpn.get("publicIps")
        if not isinstance(ips, list) or len(ips) != 2 or not all(is_public_ipv4(ip) for ip in ips):
            problems.append(f"{where}.publicIps: expected the gateway's two public IPv4 "
                            f"addresses, got {ips!r}")
        resolver = vpn.get("resolverIp")
        if not is_private_ipv4(resolver):
            problems.append(f"{where}.resolverIp: expected a private address, got {resolver!r}")
        asn = vpn.get("asn")
        if not is_bgp_asn(asn):
            problems.append(f"{where}.asn: expected a BGP ASN, got {asn!r}")
        if problems:
            raise VpnLinkError(problems)
        assert isinstance(ips, list) and isinstance(asn, int)  # checked above
        return cls((str(ips[0]), str(ips[1])), str(resolver), asn)


def aws_link_values(outputs: Mapping[str, Any], accounts: Sequence[str]) -> dict[str, Any]:
    """Step 2: per private-vpn account, what the AWS stacks need from Azure."""
    values, problems = {}, []
    for account in accounts:
        try:
            azure = AzureVpnOutputs.from_account_outputs(outputs, account)
        except VpnLinkError as exc:
            problems += exc.problems
            continue
        values[account] = {"remoteGatewayIps": list(azure.public_ips),
                           "resolverIp": azure.resolver_ip, "remoteAsn": azure.asn}
    if problems:
        raise VpnLinkError(problems)
    return values


@dataclass(frozen=True)
class AwsVpnOutputs:
    """What ``cdk deploy`` reports for one region's VPN (see the ``OUTPUT_*`` keys)."""

    stack: str
    connection_ids: tuple[str, ...]
    customer_gateway_ips: tuple[str, ...]
    inside_cidrs: tuple[tuple[str, str], ...]
    key_arns: tuple[tuple[str, str], ...]

    @classmethod
    def from_stack_outputs(cls, outputs: Mapping[str, Any] | None, stack: str) -> AwsVpnOutputs:
        """From the stack's entry in ``cdk deploy --outputs-file``."""
        if not isinstance(outputs, Mapping):
            raise VpnLinkError([f"CDK outputs: stack {stack} is missing: run `cdk deploy` "
                                "after the first link (step 3)"])
        lists: dict[str, list[str]] = {}
        problems = []
        for key in (OUTPUT_CONNECTIONS, OUTPUT_CUSTOMER_IPS, OUTPUT_INSIDE_CIDRS,
                    OUTPUT_KEY_ARNS):
            value = outputs.get(key)
            if not isinstance(value, str) or not value:
                problems.append(f"CDK outputs: {stack}.{key} is missing")
                continue
            lists[key] = [v.strip() for v in value.split(",")]
        if problems:
            raise VpnLinkError(problems)
        n = len(lists[OUTPUT_CONNECTIONS])
        if len(lists[OUTPUT_CUSTOMER_IPS]) != n or len(lists[OUTPUT_INSIDE_CIDRS]) != 2 * n \
                or len(lists[OUTPUT_KEY_ARNS]) != 2 * n:
            raise VpnLinkError([f"CDK outputs: {stack}: {n} connections need {n} customer "
                                f"gateway addresses and {2 * n} inside CIDRs and key ARNs"])
        pairs = lambda xs: tuple((xs[2 * i], xs[2 * i + 1]) for i in range(n))  # noqa: E731
        return cls(stack, tuple(lists[OUTPUT_CONNECTIONS]), tuple(lists[OUTPUT_CUSTOMER_IPS]),
                   pairs(lists[OUTPUT_INSIDE_CIDRS]), pairs(lists[OUTPUT_KEY_ARNS]))


@dataclass(frozen=True)
class TunnelLink:
    """One AWS tunnel as the Azure side needs it (the key stays a Secrets Manager ARN)."""

    peer: str
    instance: int
    tunnel: int
    outside_ip: str
    key_arn: str

    def config(self) -> dict[str, Any]:
        """The plain part, for ``skyrelay:vpnTunnels`` (no key in it)."""
        return {"peer": self.peer, "instance": self.instance, "tunnel": self.tunnel,
                "outsideIp": self.outside_ip}


def azure_tunnels(aws: AwsVpnOutputs, azure_public_ips: Sequence[str],
                  described: Mapping[str, Any], peer: str) -> list[TunnelLink]:
    """Step 4: the tunnels of ``aws`` mapped onto the Azure instances.

    Connection ``i`` must have been built against Azure address ``i`` (else the AWS side is
    stale: it points at addresses the gateway no longer has); each connection must still be
    ``available`` in ``described`` (a DescribeVpnConnections answer), and its tunnels are
    matched to the deployed inside /30s by ``TunnelInsideCidr``.
    """
    problems: list[str] = []
    if list(aws.customer_gateway_ips) != list(azure_public_ips):
        problems.append(
            f"{aws.stack}: the VPN was built against Azure addresses "
            f"{list(aws.customer_gateway_ips)} but the gateway now has {list(azure_public_ips)} "
            "(stale): run `skyrelay link` then `cdk deploy` again (steps 2-3)")
    found = {c.get("VpnConnectionId"): c for c in described.get("VpnConnections", [])}
    out: list[TunnelLink] = []
    for i, connection_id in enumerate(aws.connection_ids):
        connection = found.get(connection_id)
        if connection is None or connection.get("State") != "available":
            state = "missing" if connection is None else connection.get("State")
            problems.append(f"{aws.stack}: VPN connection {connection_id} is {state} in "
                            "DescribeVpnConnections (stale outputs): run `cdk deploy` again")
            continue
        options = (connection.get("Options") or {}).get("TunnelOptions") or []
        by_cidr = {t.get("TunnelInsideCidr"): t for t in options}
        for t, cidr in enumerate(aws.inside_cidrs[i]):
            outside = (by_cidr.get(cidr) or {}).get("OutsideIpAddress")
            if not is_public_ipv4(outside):
                problems.append(f"{aws.stack}: connection {connection_id} has no tunnel with "
                                f"inside CIDR {cidr} and a public outside address")
                continue
            out.append(TunnelLink(peer, i, t, str(outside), aws.key_arns[i][t]))
    if problems:
        raise VpnLinkError(problems)
    return out


@dataclass(frozen=True)
class SecretSetting:
    """One ``pulumi config set --secret`` call; ``stdin`` is the value (keep it unprinted)."""

    key: str
    argv: tuple[str, ...]
    stdin: str

    def __repr__(self) -> str:  # a key must not reach a log through repr()
        return f"SecretSetting(key={self.key!r}, argv={self.argv!r}, stdin=<hidden>)"


def secret_settings(account: str, tunnels: Sequence[TunnelLink],
                    get_secret: Callable[[str], str], stack: str,
                    pulumi: str = "pulumi") -> list[SecretSetting]:
    """Each tunnel's key from Secrets Manager, as a ``pulumi config set --secret`` call.

    ``get_secret(arn)`` returns the secret string (e.g. ``GetSecretValue``'s
    ``SecretString``). The value is read by the CLI from standard input when the command
    line has none (https://www.pulumi.com/docs/iac/cli/commands/pulumi_config_set/), so it
    never appears in a process list.
    """
    out, problems = [], []
    for tunnel in tunnels:
        value = get_secret(tunnel.key_arn)
        key = secret_config_key(account, tunnel.peer, tunnel.instance, tunnel.tunnel)
        if not isinstance(value, str) or not _PSK.match(value):
            problems.append(f"{tunnel.key_arn}: the secret is not a key AWS accepts (letters, "
                            "digits, '.', '_', 8-64 long, no leading 0)")
            continue
        out.append(SecretSetting(key, (pulumi, "config", "set", "--secret", "--stack", stack,
                                       key), value))
    if problems:
        raise VpnLinkError(problems)
    return out


def is_public_ipv4(value: object) -> bool:
    """A public (global) IPv4 address: a VPN gateway's outside address."""
    try:
        return isinstance(value, str) and ipaddress.IPv4Address(value).is_global
    except ValueError:
        return False


def is_private_ipv4(value: object) -> bool:
    """A private, not link-local IPv4 address: a resolver endpoint's."""
    try:
        ip = ipaddress.IPv4Address(value) if isinstance(value, str) else None
    except ValueError:
        return False
    return ip is not None and ip.is_private and not ip.is_link_local


def is_bgp_asn(value: object) -> bool:
    """An integer a BGP peer can use as its ASN (1 to 4294967294)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4294967294
