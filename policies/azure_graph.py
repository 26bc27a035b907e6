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

Props = dict[str, Any]
Entry = tuple[str, Props, str]  # (type token, camelCase props, resource name)


@dataclass(frozen=True)
class AzureAllowed:
    """The spec data the Azure rules read: declared (account, deployment) -> (model, sku), and
    the Azure locations some classification allows (``None`` means any location)."""

    deployments: dict[tuple[str, str], tuple[str, str]]
    locations: frozenset[str] | None


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
    if allowed is not None:
        checks += [check_model_sku(allowed), check_location(allowed)]
    out = [v for t, p, n in entries for c in checks for v in c(t, p, n)]
    return out + [v for c in STACK_CHECKS for v in c(entries)]
