"""Plain, typed arguments for the Azure OpenAI components, checked before anything is made.

Every args class validates itself in ``__post_init__`` and raises :class:`AzureArgsError`
(a ``ValueError``) naming the field and what was expected, so a bad value fails while the
program is still building its argument list: before any Pulumi resource is registered.

The classes know nothing about the platform spec; ``skyrelay.pulumi.program`` maps the spec
onto them. They are equally usable from any other Pulumi program.

Example::

    from skyrelay.pulumi.components.args import ModelDeployment, OpenAIAccountArgs

    args = OpenAIAccountArgs(
        account_name="contoso-openai",
        location="swedencentral",
        deployments=[ModelDeployment(name="gpt-4o", model="gpt-4o", version="2024-11-20",
                                     sku="DataZoneStandard", capacity=50)],
        gateway_principal_id="6f1c2b9e-0a43-4c55-9a0e-2d7f5a1b3c4d",
    )
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi

from skyrelay import regions


class AzureArgsError(ValueError):
    """An argument of an Azure component is invalid; the message says which and why."""


#: Deployment SKUs (Azure "deployment types") the components accept.
DEPLOYMENT_SKUS: tuple[str, ...] = (
    "Standard", "GlobalStandard", "DataZoneStandard", "ProvisionedManaged",
    "GlobalProvisionedManaged", "DataZoneProvisionedManaged", "GlobalBatch", "DataZoneBatch",
)
VERSION_UPGRADE_OPTIONS = ("OnceNewDefaultVersionAvailable", "OnceCurrentVersionExpired",
                           "NoAutoUpgrade")
SEVERITY_LEVELS = ("Low", "Medium", "High")
PUBLIC_ACCESS_MODES = ("disabled", "gateway-egress-only")
PRINCIPAL_TYPES = ("ServicePrincipal", "User", "Group", "ForeignGroup", "Device")
#: Log categories of Microsoft.CognitiveServices/accounts (Azure Monitor reference).
ACCOUNT_LOG_CATEGORIES = ("Audit", "RequestResponse", "Trace", "AzureOpenAIRequestUsage")

_ACCOUNT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}[a-zA-Z0-9]$")
_SUBDOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")
_DEPLOYMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_POLICY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _fail(where: str, message: str) -> AzureArgsError:
    return AzureArgsError(f"{where}: {message}")


def _one_of(where: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise _fail(where, f"{value!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True)
class ModelDeployment:
    """One model deployment on an account.

    ``capacity`` is thousands of tokens per minute for the pay-as-you-go SKUs and PTUs for
    the provisioned ones; ``content_filter`` names a :class:`ContentFilterPolicy` of the same
    account (``None``: Azure's default policy applies).

    Example::

        ModelDeployment(name="gpt-4o-mini", model="gpt-4o-mini", version="2024-07-18",
                        sku="GlobalStandard", capacity=200)
    """

    name: str
    model: str
    version: str
    sku: str
    capacity: int
    content_filter: str | None = None
    version_upgrade: str = "NoAutoUpgrade"
    model_format: str = "OpenAI"

    def __post_init__(self) -> None:
        where = f"deployment {self.name!r}"
        if not isinstance(self.name, str) or not _DEPLOYMENT_NAME.match(self.name):
            raise _fail(f"deployment {self.name!r}", "the name must be 1-64 letters, digits, "
                        "'.', '_' or '-', starting with a letter or digit")
        if not self.model or not self.version:
            raise _fail(where, "model and version must both be given (e.g. gpt-4o, 2024-11-20)")
        _one_of(f"{where}: sku", self.sku, DEPLOYMENT_SKUS)
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int):
            raise _fail(f"{where}: capacity", f"{self.capacity!r} is not a whole number")
        if self.capacity < 1:
            raise _fail(f"{where}: capacity", f"{self.capacity} is below 1; a deployment needs "
                        "at least 1 unit (1000 tokens/min, or 1 PTU when provisioned)")
        _one_of(f"{where}: version_upgrade", self.version_upgrade, VERSION_UPGRADE_OPTIONS)


@dataclass(frozen=True)
class ContentFilterPolicy:
    """A content-filter (RAI) policy: one severity threshold for every harm category.

    The four harm categories (hate, sexual, violence, self-harm) are filtered on both the
    prompt and the completion at ``severity_threshold``; ``jailbreak_detection`` adds prompt
    shields for jailbreak attempts.

    Example::

        ContentFilterPolicy(name="strict", severity_threshold="Low", blocking=True)
    """

    name: str
    base_policy: str = "Microsoft.DefaultV2"
    severity_threshold: str = "Medium"
    blocking: bool = True
    jailbreak_detection: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _POLICY_NAME.match(self.name):
            raise _fail(f"content filter {self.name!r}", "the name must be 1-64 letters, digits, "
                        "'_' or '-'")
        _one_of(f"content filter {self.name!r}: severity_threshold", self.severity_threshold,
                SEVERITY_LEVELS)


@dataclass(frozen=True)
class ExistingNetwork:
    """A subnet (and its virtual network) that already exist, to host the private endpoint."""

    subnet_id: pulumi.Input[str]
    virtual_network_id: pulumi.Input[str]


def check_cidr(where: str, cidr: str) -> None:
    """Raise :class:`AzureArgsError` unless ``cidr`` is a private IPv4 block of /8 to /29."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        raise _fail(where, f"{cidr!r} is not a CIDR block: {exc}") from None
    if not isinstance(net, ipaddress.IPv4Network) or not net.is_private:
        raise _fail(where, f"{cidr!r} must be a private IPv4 range (RFC 1918)")
    if not 8 <= net.prefixlen <= 29:
        raise _fail(where, f"{cidr!r}: the prefix must be between /8 and /29")


#: Ranges that never appear as a public source address (RFC 1918, CGNAT, loopback, ...).
_NOT_PUBLIC = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.168.0.0/16", "240.0.0.0/4"))


def check_public_ips(where: str, values: Sequence[str]) -> None:
    """Raise unless every value is a public IPv4 address or range (Azure IP rules are v4)."""
    for value in values:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise _fail(where, f"{value!r} is not an IPv4 address or CIDR range") from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise _fail(where, f"{value!r}: Azure network rules take IPv4 only")
        if any(net.subnet_of(block) for block in _NOT_PUBLIC) or net.is_multicast:
            raise _fail(where, f"{value!r} is not a public address; network rules match the "
                        "public egress address the service sees")


@dataclass(frozen=True)
class OpenAIAccountArgs:
    """Everything :class:`~skyrelay.pulumi.components.openai_account.OpenAIAccount` builds.

    Secure by default: key auth off, public network access off, private endpoint and DNS,
    diagnostics on. ``public_network_access="gateway-egress-only"`` opens the public endpoint
    to ``gateway_egress_ips`` only (default action deny).

    ``resource_group_name``: an existing group (None: create ``rg-<account_name>``).
    ``existing_network``: put the private endpoint in this subnet (None: create a virtual
    network with ``vnet_cidr`` and one subnet). ``log_analytics_workspace_id``: send
    diagnostics there (None: create a workspace with ``log_retention_days``).
    ``gateway_principal_id``: the Entra object id that gets "Cognitive Services OpenAI User"
    (None: no role assignment). ``allowed_locations``: Azure regions the caller's residency
    rules permit for the account (None: any). ``private_dns_zone_ids``: privatelink zones
    that exist already in ``resource_group_name`` (zone name -> id), linked instead of created;
    accounts that share a resource group must share them (a zone name is unique per group).
    """

    account_name: str
    location: str
    deployments: Sequence[ModelDeployment]
    custom_subdomain: str | None = None
    content_filters: Sequence[ContentFilterPolicy] = ()
    public_network_access: Literal["disabled", "gateway-egress-only"] = "disabled"
    gateway_egress_ips: Sequence[str] = ()
    resource_group_name: pulumi.Input[str] | None = None
    vnet_cidr: str = "10.100.0.0/24"
    existing_network: ExistingNetwork | None = None
    log_analytics_workspace_id: pulumi.Input[str] | None = None
    log_retention_days: int = 90
    log_categories: Sequence[str] = ("Audit", "RequestResponse")
    gateway_principal_id: str | None = None
    gateway_principal_type: str = "ServicePrincipal"
    allowed_locations: Collection[str] | None = None
    private_dns_zone_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def subdomain(self) -> str:
        """The custom subdomain: given, or the account name in lower case."""
        return self.custom_subdomain or self.account_name.lower()

    @property
    def endpoint(self) -> str:
        """The data-plane endpoint the account will answer on."""
        return f"https://{self.subdomain}.openai.azure.com/"

    def __post_init__(self) -> None:  # noqa: C901 - one flat list of independent checks
        where = f"account {self.account_name!r}"
        if not isinstance(self.account_name, str) or not _ACCOUNT_NAME.match(self.account_name):
            raise _fail(where, "the name must be 2-64 letters, digits or '-', starting and "
                        "ending with a letter or digit")
        if self.location not in regions.AZURE_REGIONS:
            raise _fail(f"{where}: location", f"{self.location!r} is not an Azure region "
                        "(e.g. swedencentral, eastus2)")
        if self.allowed_locations is not None and self.location not in self.allowed_locations:
            allowed = ", ".join(sorted(self.allowed_locations)) or "none"
            raise _fail(f"{where}: location", f"{self.location!r} is not allowed by the data "
                        f"residency rules (allowed Azure regions: {allowed})")
        if not _SUBDOMAIN.match(self.subdomain):
            raise _fail(f"{where}: custom_subdomain", f"{self.subdomain!r} must be 2-64 "
                        "lower-case letters, digits or '-'")
        if not self.deployments:
            raise _fail(f"{where}: deployments", "an account needs at least one deployment")
        for item in self.deployments:
            if not isinstance(item, ModelDeployment):
                raise _fail(f"{where}: deployments", f"{item!r} is not a ModelDeployment")
        names = [d.name for d in self.deployments]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise _fail(f"{where}: deployments", f"duplicate deployment names {dupes}")
        policies = {p.name for p in self.content_filters}
        if len(policies) != len(self.content_filters):
            raise _fail(f"{where}: content_filters", "duplicate content filter names")
        for d in self.deployments:
            if d.content_filter is not None and d.content_filter not in policies:
                raise _fail(f"{where}: deployment {d.name!r}: content_filter",
                            f"{d.content_filter!r} is not among the account's content filters "
                            f"({', '.join(sorted(policies)) or 'none'})")
            processing = regions.processing_regions_for_azure(d.sku, self.location)
            if d.sku.startswith("DataZone") and processing == frozenset({regions.ANY}):
                raise _fail(f"{where}: deployment {d.name!r}: sku",
                            f"{d.sku} needs an account in a data zone (US or EU); "
                            f"{self.location} is not in one")
        _one_of(f"{where}: public_network_access", self.public_network_access,
                PUBLIC_ACCESS_MODES)
        if self.public_network_access == "gateway-egress-only":
            if not self.gateway_egress_ips:
                raise _fail(f"{where}: gateway_egress_ips", "public access 'gateway-egress-only' "
                            "needs the gateway's public egress addresses; none were given")
            check_public_ips(f"{where}: gateway_egress_ips", self.gateway_egress_ips)
        elif self.gateway_egress_ips:
            raise _fail(f"{where}: gateway_egress_ips", "egress addresses only apply with "
                        "public_network_access='gateway-egress-only'; this account is private")
        if self.existing_network is None:
            check_cidr(f"{where}: vnet_cidr", self.vnet_cidr)
        if not 30 <= self.log_retention_days <= 730:
            raise _fail(f"{where}: log_retention_days", f"{self.log_retention_days} is outside "
                        "Log Analytics' 30-730 days")
        for category in self.log_categories:
            _one_of(f"{where}: log_categories", category, ACCOUNT_LOG_CATEGORIES)
        if self.gateway_principal_id is not None:
            try:
                uuid.UUID(self.gateway_principal_id)
            except (ValueError, AttributeError, TypeError):
                raise _fail(f"{where}: gateway_principal_id", f"{self.gateway_principal_id!r} "
                            "is not an Entra object id (a GUID)") from None
        _one_of(f"{where}: gateway_principal_type", self.gateway_principal_type, PRINCIPAL_TYPES)
