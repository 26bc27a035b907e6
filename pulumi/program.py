"""The Azure side of the platform: map the spec onto components and export the wiring.

``__main__.py`` calls :func:`main`; the offline plan runs that same ``__main__.py`` under
mocks. Everything is checked (spec, config, residency, component args) before the first
resource is registered, so a bad value never leaves a half-built stack.

Config keys (namespace ``skyrelay``, set with ``pulumi config set``):

- ``skyrelay:spec`` - the platform spec; a relative path is resolved against the folder of
  ``Pulumi.yaml`` (default: the spec named by ``skyrelay:spec`` in the nearest cdk.json at or
  above that folder, so the CDK app and the Pulumi program build the same spec).
- ``skyrelay:gatewayPrincipalId`` - required: the Entra object id of the gateway's identity,
  given "Cognitive Services OpenAI User" on every account.
- ``skyrelay:gatewayPrincipalType`` - ``ServicePrincipal`` (default), ``Group`` or ``User``.
- ``skyrelay:gatewayEgressIps`` - list of the gateway's public egress addresses; required when
  an account has ``public_network_access: gateway-egress-only``.
- ``skyrelay:existingNetworks`` - optional object ``{account: {subnetId, virtualNetworkId}}``
  to put an account's private endpoint into an existing subnet.
- ``skyrelay:vpnTunnels`` and one secret ``skyrelay:vpnKey-<account>-<peer>-<i>-<t>`` per
  tunnel - the AWS tunnels of each ``gateway_path: private-vpn`` account, written by
  ``skyrelay link`` (see :mod:`skyrelay.pulumi.vpn_path`); absent on the first ``pulumi up``,
  which builds each such account's VPN gateway and DNS resolver only.

Example (what ``__main__.py`` does)::

    from skyrelay.pulumi.program import main
    main()
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_azure_native as azure_native
from pulumi_azure_native import privatedns, resources

from skyrelay.project import ProjectError, default_spec, find_up, resolve_against
from skyrelay.pulumi.components import (
    AzureArgsError,
    ContentFilterPolicy,
    ExistingNetwork,
    ModelDeployment,
    OpenAIAccount,
    OpenAIAccountArgs,
)
from skyrelay.pulumi.components.private_link import ACCOUNT_DNS_ZONES
from skyrelay.pulumi.residency import allowed_azure_locations, residency_problems
from skyrelay.pulumi.vpn_path import (
    TUNNELS_CONFIG,
    TunnelSetting,
    build_site_vpn,
    parse_vpn_tunnels,
    private_path_problems,
    read_tunnel_keys,
)
from skyrelay.spec import Spec, SpecError, load_spec
from skyrelay.spec.vpn_checks import vpn_layout

CONFIG_NAMESPACE = "skyrelay"


class ProgramError(pulumi.RunError):
    """The spec or config cannot be built; the message lists every problem.

    A ``RunError`` so the Pulumi CLI prints the message without a Python traceback.
    """


class InvalidSpecError(ProgramError):
    """The platform spec itself does not load or validate."""


@dataclass(frozen=True)
class ProgramSettings:
    """What the program reads from Pulumi config (see the module docstring)."""

    spec_path: Path
    gateway_principal_id: str | None = None
    gateway_principal_type: str = "ServicePrincipal"
    gateway_egress_ips: tuple[str, ...] = ()
    existing_networks: Mapping[str, ExistingNetwork] = field(default_factory=dict)
    #: Per private-vpn account, its AWS tunnels (``skyrelay:vpnTunnels``) and, by config key
    #: name, the tunnels' pre-shared keys (secret Outputs).
    vpn_tunnels: Mapping[str, tuple[TunnelSetting, ...]] = field(default_factory=dict)
    vpn_keys: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)


def _networks(raw: Any) -> dict[str, ExistingNetwork]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProgramError("skyrelay:existingNetworks must be an object "
                           "{account: {subnetId, virtualNetworkId}}")
    out = {}
    for account, value in raw.items():
        if not isinstance(value, dict) or not value.get("subnetId") \
                or not value.get("virtualNetworkId"):
            raise ProgramError(f"skyrelay:existingNetworks.{account} needs both 'subnetId' and "
                               "'virtualNetworkId'")
        out[account] = ExistingNetwork(subnet_id=value["subnetId"],
                                       virtual_network_id=value["virtualNetworkId"])
    return out


def _object(config: pulumi.Config, key: str) -> Any:
    try:
        return config.get_object(key)
    except pulumi.ConfigTypeError:
        raise ProgramError(f"skyrelay:{key} must be structured config; set it with "
                           f"pulumi config set --path 'skyrelay:{key}...'") from None


def project_dir() -> Path:
    """The Pulumi project's folder (where Pulumi.yaml is), never the installed package's."""
    try:
        root = pulumi.runtime.get_root_directory()
    except Exception:  # older engines, or mocks that set no root: find it from the cwd
        root = None
    if root:
        return Path(root).resolve()
    found = find_up(Path.cwd(), "Pulumi.yaml")
    return found.parent if found else Path.cwd().resolve()


def spec_location(configured: str | None, project: Path) -> Path:
    """The spec the program builds: ``skyrelay:spec`` resolved against ``project``, else the
    one the nearest cdk.json names; a :class:`ProgramError` says what to set otherwise."""
    if configured:
        return resolve_against(project, configured)
    try:
        return default_spec(project)
    except ProjectError as exc:
        raise ProgramError(f"no platform spec: set one with `pulumi config set skyrelay:spec "
                           f"PATH` (relative to {project}), or name it in cdk.json ({exc})"
                           ) from None


def read_settings(config: pulumi.Config | None = None) -> ProgramSettings:
    """Read :class:`ProgramSettings` from the stack's config."""
    config = config or pulumi.Config(CONFIG_NAMESPACE)
    spec_path = spec_location(config.get("spec"), project_dir())
    try:
        ips = config.get_object("gatewayEgressIps") or []
    except pulumi.ConfigTypeError:
        ips = None
    if not isinstance(ips, list) or not all(isinstance(ip, str) for ip in ips):
        raise ProgramError("skyrelay:gatewayEgressIps must be a list of addresses, e.g. "
                           "pulumi config set --path 'skyrelay:gatewayEgressIps[0]' 203.0.113.7")
    try:
        tunnels = parse_vpn_tunnels(_object(config, TUNNELS_CONFIG))
    except ValueError as exc:
        raise ProgramError(f"{exc}; `skyrelay link` writes it (step 4)") from None
    return ProgramSettings(
        spec_path=spec_path,
        vpn_tunnels=tunnels,
        vpn_keys=read_tunnel_keys(config, tunnels),
        gateway_principal_id=config.get("gatewayPrincipalId"),
        gateway_principal_type=config.get("gatewayPrincipalType") or "ServicePrincipal",
        gateway_egress_ips=tuple(ips),
        existing_networks=_networks(_object(config, "existingNetworks")),
    )


def platform_tags(spec: Spec) -> dict[str, str]:
    """Tags for every Azure resource: the spec's tags plus the platform name."""
    return {**spec.tags, "skyrelay-platform": spec.name}


def account_args(spec: Spec, settings: ProgramSettings,
                 resource_group_name: pulumi.Input[str] | None = None,
                 dns_zone_ids: Mapping[str, Any] | None = None,
                 ) -> list[OpenAIAccountArgs]:
    """Map every spec account onto validated component args, or raise listing all problems.

    ``dns_zone_ids``: the privatelink zones of a shared resource group (name -> the
    ``PrivateZone``), which every account links, each link depending on its zone.
    """
    if not spec.azure:
        return []
    problems = residency_problems(spec)
    if settings.gateway_principal_id is None:
        problems.append("config skyrelay:gatewayPrincipalId is not set: give the Entra object id "
                        "of the gateway's identity (pulumi config set skyrelay:gatewayPrincipalId "
                        "<object-id>); keys are disabled, so nothing could call the accounts")
    unknown = sorted(set(settings.existing_networks) - {a.name for a in spec.azure.accounts})
    if unknown:
        problems.append(f"config skyrelay:existingNetworks names unknown accounts {unknown}")
    problems += private_path_problems(spec, settings.vpn_tunnels, settings.vpn_keys,
                                      settings.existing_networks)
    filters = {f.name: f for f in spec.azure.content_filters}
    locations = allowed_azure_locations(spec)
    out = []
    for i, acct in enumerate(spec.azure.accounts):
        used = sorted({d.content_filter for d in acct.deployments if d.content_filter})
        egress_only = acct.public_network_access == "gateway-egress-only"
        if egress_only and not settings.gateway_egress_ips:
            problems.append(
                f"azure.accounts[{i}] ({acct.name}) is 'gateway-egress-only' but config "
                "skyrelay:gatewayEgressIps is empty: deploy the AWS network stacks "
                "(cdk deploy <name>-<region>-network --outputs-file cdk-outputs.json), then "
                "`skyrelay link --cdk-outputs cdk-outputs.json --stack <stack>` writes them here")
            continue
        try:
            # A private path shares the network: the endpoints keep its first half.
            endpoint_subnet = vpn_layout(acct).endpoints if acct.vpn_settings else None
            out.append(OpenAIAccountArgs(
                account_name=acct.name,
                location=acct.location,
                kind=acct.kind,
                custom_subdomain=acct.subdomain,
                public_network_access=acct.public_network_access,
                gateway_egress_ips=settings.gateway_egress_ips if egress_only else (),
                vnet_cidr=acct.vnet_cidr,
                endpoint_subnet_cidr=endpoint_subnet,
                existing_network=settings.existing_networks.get(acct.name),
                resource_group_name=resource_group_name,
                log_retention_days=spec.azure.log_retention_days,
                gateway_principal_id=settings.gateway_principal_id,
                gateway_principal_type=settings.gateway_principal_type,
                allowed_locations=locations,
                private_dns_zone_ids=dict(dns_zone_ids or {}),
                tags=platform_tags(spec),
                content_filters=[ContentFilterPolicy(
                    name=f.name, base_policy=f.base_policy,
                    severity_threshold=f.severity_threshold, blocking=f.blocking,
                    harm=f.harm_overrides(),
                    jailbreak_detection=f.jailbreak_detection,
                    indirect_attack_detection=f.indirect_attack_detection,
                    protected_material_text=f.protected_material_text,
                    protected_material_code=f.protected_material_code,
                ) for f in (filters[n] for n in used if n in filters)],
                deployments=[ModelDeployment(
                    name=d.name, model=d.model, version=d.version, sku=d.sku,
                    capacity=d.capacity, content_filter=d.content_filter,
                    version_upgrade=d.version_upgrade,
                ) for d in acct.deployments],
            ))
        except (AzureArgsError, ValueError) as exc:
            problems.append(f"azure.accounts[{i}] ({acct.name}): {exc}")
    if problems:
        raise ProgramError(f"{settings.spec_path}: the Azure side cannot be built:\n  - "
                           + "\n  - ".join(dict.fromkeys(problems)))
    return out


def build(spec: Spec, settings: ProgramSettings) -> dict[str, Any]:
    """Create every Azure resource for ``spec``; return the stack outputs to export.

    Outputs: ``accounts`` (name -> id, endpoint (Azure OpenAI), foundryEndpoint, kind,
    location, resourceGroupName, principalId (system identity), virtualNetworkId, subnetId,
    deployments, and for a private-vpn account ``vpn``: publicIps, resolverIp, asn) and
    ``targets`` keyed like the gateway config (``azure:<account>/<deployment>`` ->
    endpoint, account, deployment, model).
    """
    if not spec.azure:
        return {"accounts": {}, "targets": {}}
    shared_rg = spec.azure.resource_group
    # Validate everything before the first resource exists (the shared group included).
    account_args(spec, settings, resource_group_name=shared_rg)

    opts = None
    if spec.azure.subscription:
        # Pin the subscription the spec names, whatever the ambient credentials default to.
        provider = azure_native.Provider("azure-subscription",
                                         subscription_id=spec.azure.subscription)
        opts = pulumi.ResourceOptions(providers=[provider])
    rg_name: pulumi.Input[str] | None = None
    zones: dict[str, privatedns.PrivateZone] = {}
    if shared_rg:
        rg_name = resources.ResourceGroup(
            "platform-rg", opts=opts, resource_group_name=shared_rg,
            location=spec.azure.accounts[0].location, tags=platform_tags(spec)).name
        # A zone name is unique per resource group: the accounts share one set of zones
        # (each links its own virtual network to them).
        for zone_name in ACCOUNT_DNS_ZONES:
            label = zone_name.removeprefix("privatelink.").rsplit(".azure.com", 1)[0]
            zones[zone_name] = privatedns.PrivateZone(
                f"platform-dns-{label.replace('.', '-')}", opts=opts,
                private_zone_name=zone_name, resource_group_name=rg_name, location="global",
                tags=platform_tags(spec))

    accounts: dict[str, Any] = {}
    targets: dict[str, Any] = {}
    for args, acct in zip(account_args(spec, settings, rg_name, zones), spec.azure.accounts,
                          strict=True):
        component = OpenAIAccount(acct.name, args, opts=opts)
        accounts[acct.name] = {
            "id": component.account_id,
            "endpoint": component.openai_endpoint,
            "foundryEndpoint": component.foundry_endpoint,
            "kind": acct.kind,
            "location": acct.location,
            "resourceGroupName": component.resource_group_name,
            "principalId": component.principal_id,
            "virtualNetworkId": component.virtual_network_id,
            "subnetId": component.subnet_id,
            "deployments": component.deployment_names,
        }
        if acct.vpn_settings is not None:
            _, accounts[acct.name]["vpn"] = build_site_vpn(
                spec, acct, component, settings.vpn_tunnels.get(acct.name, ()),
                settings.vpn_keys, tags=platform_tags(spec), opts=opts)
        for dep, resource in zip(acct.deployments, component.deployments, strict=True):
            targets[f"azure:{acct.name}/{dep.name}"] = {
                "endpoint": component.endpoint,
                "account": acct.name,
                "deployment": resource.name,
                "model": dep.model,
            }
    return {"accounts": accounts, "targets": targets}


def load_program_spec(path: Path) -> Spec:
    """Load the spec, turning a :class:`SpecError` into a :class:`ProgramError`."""
    try:
        return load_spec(path)
    except SpecError as err:
        raise InvalidSpecError(f"{path}: invalid platform spec:\n" + str(err)) from None
    except OSError as err:
        raise InvalidSpecError(f"cannot read the platform spec (config skyrelay:spec): {err}") \
            from None


def main() -> None:
    """The program: read config and spec, build, export ``accounts`` and ``targets``."""
    settings = read_settings()
    spec = load_program_spec(settings.spec_path)
    for key, value in build(spec, settings).items():
        pulumi.export(key, value)
