"""The Azure rules as pure functions over resource-graph entries (type token + camelCase props).

Per-resource checks have the signature ``(resource_type, props, name) -> list[Violation]`` so a
CrossGuard ``ResourceValidationPolicy`` can call them with ``args.resource_type`` and
``args.props``, and the offline check can call them with a plan entry's ``type`` and ``inputs``.
Whole-graph checks (private endpoint / diagnostics per account) take ``(type, props, name)``
triples, which a CrossGuard ``StackValidationPolicy`` builds from ``args.resources``.

Example::

    from skyrelay.policies.azure_graph import check_local_auth
    props = {"properties": {"disableLocalAuth": False}}
    assert check_local_auth(ACCOUNT, props, "acct")[0].rule == "SKY-AZ-001"
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from skyrelay.policies.rules import Violation
from skyrelay.pulumi.rai_defaults import weaker_than_default

ACCOUNT = "azure-native:cognitiveservices:Account"
RAI_POLICY = "azure-native:cognitiveservices:RaiPolicy"
DEPLOYMENT = "azure-native:cognitiveservices:Deployment"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
DIAGNOSTIC_SETTING = "azure-native:monitor:DiagnosticSetting"
VPN_GATEWAY = "azure-native:network:VirtualNetworkGateway"
VPN_CONNECTION = "azure-native:network:VirtualNetworkGatewayConnection"

Props = dict[str, Any]
Entry = tuple[str, Props, str]  # (type token, camelCase props, resource name)


@dataclass(frozen=True)
class AzureAllowed:
    """The spec data the Azure rules read: declared (account, deployment) -> (model, sku), the
    Azure locations some classification allows (``None`` means any location), and the
    accounts whose gateways reach them over the private VPN (``gateway_path: private-vpn``)."""

    deployments: dict[tuple[str, str], tuple[str, str]]
    locations: frozenset[str] | None
    private_vpn_accounts: frozenset[str] = frozenset()


def _account_name(props: Props, name: str) -> str:
    return str(props.get("accountName") or name)


def check_local_auth(resource_type: str, props: Props, name: str) -> list[Violation]:
    """SKY-AZ-001: ``properties.disableLocalAuth`` is true on every OpenAI account."""
    if resource_type != ACCOUNT:
        return []
    if (props.get("properties") or {}).get("disableLocalAuth") is not True:
        return [Violation("SKY-AZ-001", _account_name(props, name),
                          "local (key) auth is not disabled (disableLocalAuth must be true)")]
    return []


def check_public_access(resource_type: str, props: Props, name: str) -> list[Violation]:
    """SKY-AZ-002: public network access disabled, or enabled only with default-Deny ACLs."""
    if resource_type != ACCOUNT:
        return []
    p = props.get("properties") or {}
    if p.get("publicNetworkAccess") == "Disabled":
        return []
    if (p.get("networkAcls") or {}).get("defaultAction") == "Deny":
        return []
    return [Violation("SKY-AZ-002", _account_name(props, name),
                      "publicly reachable: publicNetworkAccess is not Disabled and "
                      "networkAcls.defaultAction is not Deny")]


def check_model_sku(allowed: AzureAllowed) -> Callable[[str, Props, str], list[Violation]]:
    """SKY-AZ-005: a deployment's model name and SKU equal the spec's declaration."""

    def check(resource_type: str, props: Props, name: str) -> list[Violation]:
        if resource_type != DEPLOYMENT:
            return []
        key = (str(props.get("accountName")), str(props.get("deploymentName") or name))
        model = ((props.get("properties") or {}).get("model") or {}).get("name")
        sku = (props.get("sku") or {}).get("name")
        want = allowed.deployments.get(key)
        where = f"{key[0]}/{key[1]}"
        if want is None:
            return [Violation("SKY-AZ-005", where, "deployment not declared in the spec")]
        if (model, sku) != want:
            return [Violation("SKY-AZ-005", where,
                              f"deploys {model} ({sku}), the spec declares {want[0]} ({want[1]})")]
        return []

    return check


def check_location(allowed: AzureAllowed) -> Callable[[str, Props, str], list[Violation]]:
    """SKY-AZ-006: an account's location lies within some classification's allowed set."""

    def check(resource_type: str, props: Props, name: str) -> list[Violation]:
        if resource_type != ACCOUNT or allowed.locations is None:
            return []
        loc = props.get("location")
        if loc in allowed.locations:
            return []
        return [Violation("SKY-AZ-006", _account_name(props, name),
                          f"location {loc} is outside every compliance classification")]

    return check


def check_private_vpn_access(allowed: AzureAllowed
                             ) -> Callable[[str, Props, str], list[Violation]]:
    """SKY-AZ-009: a private-vpn account's public endpoint is off and lists no IP rule.

    Default-deny with allow-listed addresses (what SKY-AZ-002 accepts) is not enough here:
    prompts to an account the spec calls private must not be able to cross the internet.
    """

    def check(resource_type: str, props: Props, name: str) -> list[Violation]:
        account = _account_name(props, name)
        if resource_type != ACCOUNT or account not in allowed.private_vpn_accounts:
            return []
        p = props.get("properties") or {}
        out = []
        if p.get("publicNetworkAccess") != "Disabled":
            out.append(Violation("SKY-AZ-009", account,
                                 "gateway_path private-vpn, but publicNetworkAccess is "
                                 f"{p.get('publicNetworkAccess')!r}, not 'Disabled'"))
        ips = [r.get("value") for r in (p.get("networkAcls") or {}).get("ipRules") or []]
        if ips:
            out.append(Violation("SKY-AZ-009", account,
                                 f"gateway_path private-vpn, but networkAcls allow-lists {ips}"))
        return out

    return check


def vpn_gateway_name(account: str) -> str:
    """The Azure name the program gives an account's VPN gateway (``SiteVpn``: vgw-<name>)."""
    return f"vgw-{account}"


def check_vpn_gateways(allowed: AzureAllowed) -> Callable[[list[Entry]], list[Violation]]:
    """SKY-AZ-010: each private-vpn account has its VPN gateway (route-based, BGP on, an
    ASN), and no VPN connection of the stack has BGP off (its routes would not be learnt)."""

    def check(entries: list[Entry]) -> list[Violation]:
        gateways = {str(p.get("virtualNetworkGatewayName") or n): p
                    for t, p, n in entries if t == VPN_GATEWAY}
        out = []
        for account in sorted(allowed.private_vpn_accounts):
            gateway = gateways.get(vpn_gateway_name(account))
            if gateway is None:
                out.append(Violation("SKY-AZ-010", account,
                                     f"gateway_path private-vpn, but no VPN gateway "
                                     f"{vpn_gateway_name(account)} is in the stack"))
            elif gateway.get("enableBgp") is not True or gateway.get("vpnType") != "RouteBased" \
                    or not (gateway.get("bgpSettings") or {}).get("asn"):
                out.append(Violation("SKY-AZ-010", account,
                                     f"VPN gateway {vpn_gateway_name(account)} must be "
                                     "route-based with BGP on and an ASN"))
        for t, p, n in entries:
            if t == VPN_CONNECTION and p.get("enableBgp") is not True:
                out.append(Violation("SKY-AZ-010",
                                     str(p.get("virtualNetworkGatewayConnectionName") or n),
                                     "VPN connection without BGP: the tunnel would carry no "
                                     "routes"))
        return out

    return check


def _account_ids(entries: Iterable[Entry]) -> dict[str, str]:
    """Account name -> the ARM id suffix ``/accounts/<name>`` used to match references."""
    return {_account_name(p, n): f"/accounts/{_account_name(p, n)}".lower()
            for t, p, n in entries if t == ACCOUNT}


def check_private_endpoints(entries: list[Entry]) -> list[Violation]:
    """SKY-AZ-003: some private endpoint connects to each OpenAI account."""
    targets = [str(c.get("privateLinkServiceId", "")).lower()
               for t, p, _ in entries if t == PRIVATE_ENDPOINT
               for c in p.get("privateLinkServiceConnections") or []]
    return [Violation("SKY-AZ-003", acct, "no private endpoint connects to this account")
            for acct, suffix in _account_ids(entries).items()
            if not any(t.endswith(suffix) for t in targets)]


def check_diagnostics(entries: list[Entry]) -> list[Violation]:
    """SKY-AZ-004: a diagnostic setting with enabled logs targets each OpenAI account."""
    uris = [str(p.get("resourceUri", "")).lower() for t, p, _ in entries
            if t == DIAGNOSTIC_SETTING and any(x.get("enabled") for x in p.get("logs") or [])]
    return [Violation("SKY-AZ-004", acct, "no diagnostic setting with enabled logs")
            for acct, suffix in _account_ids(entries).items()
            if not any(u.endswith(suffix) for u in uris)]


def check_content_filter(resource_type: str, props: Props, name: str) -> list[Violation]:
    """SKY-AZ-007: an RAI policy filters at least what Azure's default safety policy does."""
    if resource_type != RAI_POLICY:
        return []
    filters = (props.get("properties") or {}).get("contentFilters") or []
    where = f"{props.get('accountName') or '?'}/{props.get('raiPolicyName') or name}"
    return [Violation("SKY-AZ-007", where, f"weaker than Azure's default safety policy: {gap}")
            for gap in weaker_than_default(filters)]


def check_account_kind(resource_type: str, props: Props, name: str) -> list[Violation]:
    """SKY-AZ-008: accounts are Foundry resources (kind AIServices); OpenAI drifts."""
    if resource_type != ACCOUNT or props.get("kind") == "AIServices":
        return []
    return [Violation("SKY-AZ-008", _account_name(props, name),
                      f"kind {props.get('kind')!r}: Microsoft upgrades eligible OpenAI accounts "
                      "to Foundry (AIServices), after which the program shows drift")]


RESOURCE_CHECKS: tuple[Callable[[str, Props, str], list[Violation]], ...] = (
    check_local_auth, check_public_access, check_content_filter, check_account_kind,
)
STACK_CHECKS: tuple[Callable[[list[Entry]], list[Violation]], ...] = (
    check_private_endpoints, check_diagnostics,
)


def plan_entries(plan: dict[str, Any]) -> list[Entry]:
    """The custom resources of an ``azure-plan.json`` as (type, inputs, name) triples."""
    return [(r["type"], r.get("inputs") or {}, r["name"])
            for r in plan.get("resources") or [] if r.get("custom")]


def check_graph(entries: list[Entry], allowed: AzureAllowed | None = None) -> list[Violation]:
    """Run every Azure rule over a resource graph (spec-driven rules only with ``allowed``)."""
    checks = list(RESOURCE_CHECKS)
    stack_checks = list(STACK_CHECKS)
    if allowed is not None:
        checks += [check_model_sku(allowed), check_location(allowed),
                   check_private_vpn_access(allowed)]
        stack_checks.append(check_vpn_gateways(allowed))
    out = [v for t, p, n in entries for c in checks for v in c(t, p, n)]
    return out + [v for c in stack_checks for v in c(entries)]
