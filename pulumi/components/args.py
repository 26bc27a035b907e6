"""Plain, typed arguments for the Azure OpenAI components, checked before anything is made.

Every args class validates itself in ``__post_init__`` and raises :class:`AzureArgsError`
(a ``ValueError``) naming the field and what was expected, so a bad value fails while the
program is still building its argument list: before any Pulumi resource is registered.
Arguments that may come from another resource (``location``, ``gateway_principal_id``,
``gateway_egress_ips``) take a ``pulumi.Input``: plain values are checked at once, Outputs
inside ``apply`` with the same messages (:func:`~.validation.check_input`).

The classes know nothing about the platform spec; ``skyrelay.pulumi.program`` maps the spec
onto them. They are equally usable from any other Pulumi program.

Example::

    from skyrelay.pulumi.components.args import ModelDeployment, OpenAIAccountArgs

    args = OpenAIAccountArgs(
        account_name="contoso-openai",
        location=group.location,            # any pulumi.Input[str]: checked once known
        deployments=[ModelDeployment(name="chat", model="gpt-5", version="2025-08-07",
                                     sku="DataZoneStandard", capacity=50)],
        gateway_principal_id=gateway_app.object_id,
    )
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi

from skyrelay import regions
from skyrelay.pulumi.components.content_filter import SEVERITY_LEVELS, ContentFilterPolicy
from skyrelay.pulumi.components.validation import (
    AzureArgsError,
    check_cidr,
    check_guid,
    check_input,
    check_location,
    check_public_ips,
    check_subnet_cidr,
    fail,
    is_known,
    one_of,
)

__all__ = [
    "ACCOUNT_KINDS", "ACCOUNT_LOG_CATEGORIES", "DEPLOYMENT_SKUS", "PRINCIPAL_TYPES",
    "PUBLIC_ACCESS_MODES", "SEVERITY_LEVELS", "VERSION_UPGRADE_OPTIONS", "AzureArgsError",
    "ContentFilterPolicy", "ExistingNetwork", "ModelDeployment", "OpenAIAccountArgs",
    "check_cidr", "check_public_ips",
]

#: Deployment SKUs (Azure "deployment types") the components accept.
DEPLOYMENT_SKUS: tuple[str, ...] = (
    "Standard", "GlobalStandard", "DataZoneStandard", "ProvisionedManaged",
    "GlobalProvisionedManaged", "DataZoneProvisionedManaged", "GlobalBatch", "DataZoneBatch",
)
#: pulumi-azure-native ``DeploymentModelVersionUpgradeOption``; the first is the default
#: here: a version moves on only when it expires, never while it still works
#: (https://learn.microsoft.com/azure/ai-foundry/openai/concepts/model-versions).
VERSION_UPGRADE_OPTIONS = ("OnceCurrentVersionExpired", "OnceNewDefaultVersionAvailable",
                           "NoAutoUpgrade")
#: ``AIServices`` is a Foundry resource (Azure OpenAI plus the Foundry endpoints); Microsoft
#: upgrades eligible ``OpenAI`` accounts to it, after which a program that says ``OpenAI``
#: shows drift (https://learn.microsoft.com/azure/foundry/how-to/upgrade-azure-openai-auto).
ACCOUNT_KINDS = ("AIServices", "OpenAI")
PUBLIC_ACCESS_MODES = ("disabled", "gateway-egress-only")
PRINCIPAL_TYPES = ("ServicePrincipal", "User", "Group", "ForeignGroup", "Device")
#: Log categories of Microsoft.CognitiveServices/accounts (Azure Monitor reference).
ACCOUNT_LOG_CATEGORIES = ("Audit", "RequestResponse", "Trace", "AzureOpenAIRequestUsage")

_ACCOUNT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}[a-zA-Z0-9]$")
_SUBDOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")
_DEPLOYMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ModelDeployment:
    """One model deployment on an account.

    ``capacity`` is thousands of tokens per minute for the pay-as-you-go SKUs and PTUs for
    the provisioned ones; ``content_filter`` names a :class:`ContentFilterPolicy` of the same
    account (``None``: Azure's default policy applies). ``version_upgrade`` defaults to
    ``OnceCurrentVersionExpired``; ``NoAutoUpgrade`` must be asked for (the deployment stops
    working when its version retires).

    Example::

        ModelDeployment(name="chat", model="gpt-5", version="2025-08-07",
                        sku="GlobalStandard", capacity=200)
    """

    name: str
    model: str
    version: str
    sku: str
    capacity: int
    content_filter: str | None = None
    version_upgrade: str = "OnceCurrentVersionExpired"
    model_format: str = "OpenAI"

    def __post_init__(self) -> None:
        where = f"deployment {self.name!r}"
        if not isinstance(self.name, str) or not _DEPLOYMENT_NAME.match(self.name):
            raise fail(f"deployment {self.name!r}", "the name must be 1-64 letters, digits, "
                       "'.', '_' or '-', starting with a letter or digit")
        if not self.model or not self.version:
            raise fail(where, "model and version must both be given (e.g. gpt-5, 2025-08-07)")
        one_of(f"{where}: sku", self.sku, DEPLOYMENT_SKUS)
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int):
            raise fail(f"{where}: capacity", f"{self.capacity!r} is not a whole number")
        if self.capacity < 1:
            raise fail(f"{where}: capacity", f"{self.capacity} is below 1; a deployment needs "
                       "at least 1 unit (1000 tokens/min, or 1 PTU when provisioned)")
        one_of(f"{where}: version_upgrade", self.version_upgrade, VERSION_UPGRADE_OPTIONS)


@dataclass(frozen=True)
class ExistingNetwork:
    """A subnet (and its virtual network) that already exist, to host the private endpoint."""

    subnet_id: pulumi.Input[str]
    virtual_network_id: pulumi.Input[str]


@dataclass(frozen=True)
class OpenAIAccountArgs:
    """Everything :class:`~skyrelay.pulumi.components.openai_account.OpenAIAccount` builds.

    Secure by default: key auth off, private endpoint and DNS, diagnostics on, and the public
    endpoint off (``public_network_access="disabled"``: reachable only from networks with a
    private path to the endpoint), or ``"gateway-egress-only"``: enabled with default-deny
    network rules that allow only ``gateway_egress_ips`` (the gateways' NAT addresses; an
    Input, e.g. from a StackReference). The platform spec defaults to the latter, since its
    gateway runs in AWS.

    ``kind``: ``AIServices`` (a Foundry resource, default) or ``OpenAI`` (an existing classic
    account; Microsoft may upgrade it to ``AIServices``, which then shows as drift).
    ``resource_group_name``: an existing group (None: create ``rg-<account_name>``).
    ``existing_network``: put the private endpoint in this subnet (None: create a virtual
    network with ``vnet_cidr`` and one subnet spanning it, or ``endpoint_subnet_cidr`` inside
    it, which leaves the rest for other subnets, e.g. a VPN gateway's).
    ``log_analytics_workspace_id``: send
    diagnostics there (None: create a workspace with ``log_retention_days``).
    ``gateway_principal_id``: the Entra object id that gets "Cognitive Services OpenAI User"
    (None: no role assignment; more with ``OpenAIAccount.grant``). ``allowed_locations``:
    Azure regions the caller's residency rules permit (None: any). ``private_dns_zone_ids``:
    privatelink zones that exist already in ``resource_group_name`` (zone name -> id or the
    ``PrivateZone`` resource), linked instead of created; accounts that share a resource
    group must share them (a zone name is unique per group). Every Azure name is derived from
    ``account_name``, never from the component's Pulumi name, so renaming the component in
    code replaces nothing.
    """

    account_name: str
    location: pulumi.Input[str]
    deployments: Sequence[ModelDeployment]
    kind: str = "AIServices"
    custom_subdomain: str | None = None
    content_filters: Sequence[ContentFilterPolicy] = ()
    public_network_access: Literal["disabled", "gateway-egress-only"] = "disabled"
    gateway_egress_ips: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    resource_group_name: pulumi.Input[str] | None = None
    vnet_cidr: str = "10.100.0.0/24"
    endpoint_subnet_cidr: str | None = None
    existing_network: ExistingNetwork | None = None
    log_analytics_workspace_id: pulumi.Input[str] | None = None
    log_retention_days: int = 90
    log_categories: Sequence[str] = ("Audit", "RequestResponse")
    gateway_principal_id: pulumi.Input[str] | None = None
    gateway_principal_type: str = "ServicePrincipal"
    allowed_locations: Collection[str] | None = None
    private_dns_zone_ids: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def subdomain(self) -> str:
        """The custom subdomain: given, or the account name in lower case."""
        return self.custom_subdomain or self.account_name.lower()

    @property
    def openai_endpoint(self) -> str:
        """The Azure OpenAI data-plane endpoint (what the gateway calls)."""
        return f"https://{self.subdomain}.openai.azure.com/"

    @property
    def endpoint(self) -> str:
        """Alias of :attr:`openai_endpoint`."""
        return self.openai_endpoint

    @property
    def foundry_endpoint(self) -> str | None:
        """The Foundry endpoint of an ``AIServices`` account (None for kind ``OpenAI``)."""
        return f"https://{self.subdomain}.services.ai.azure.com/" \
            if self.kind == "AIServices" else None

    @property
    def egress_only(self) -> bool:
        """True when the public endpoint admits the gateway's egress addresses."""
        return self.public_network_access == "gateway-egress-only"

    def _check_location(self, value: object) -> None:
        where = f"account {self.account_name!r}"
        check_location(where, value)
        if self.allowed_locations is not None and value not in self.allowed_locations:
            allowed = ", ".join(sorted(self.allowed_locations)) or "none"
            raise fail(f"{where}: location", f"{value!r} is not allowed by the data "
                       f"residency rules (allowed Azure regions: {allowed})")
        for d in self.deployments:
            processing = regions.processing_regions_for_azure(d.sku, str(value))
            if d.sku.startswith("DataZone") and processing == frozenset({regions.ANY}):
                raise fail(f"{where}: deployment {d.name!r}: sku",
                           f"{d.sku} needs an account in a data zone (US or EU); "
                           f"{value} is not in one")

    def _check_egress(self, ips: Any) -> None:
        where = f"account {self.account_name!r}: gateway_egress_ips"
        if self.egress_only:
            if not ips:
                raise fail(where, "public access 'gateway-egress-only' needs the gateway's "
                           "public egress addresses; none were given")
            check_public_ips(where, ips)
        elif ips:
            raise fail(where, "egress addresses only apply with "
                       "public_network_access='gateway-egress-only'; this account is private")

    def __post_init__(self) -> None:
        where = f"account {self.account_name!r}"
        if not isinstance(self.account_name, str) or not _ACCOUNT_NAME.match(self.account_name):
            raise fail(where, "the name must be 2-64 letters, digits or '-', starting and "
                       "ending with a letter or digit")
        one_of(f"{where}: kind", self.kind, ACCOUNT_KINDS)
        if not _SUBDOMAIN.match(self.subdomain):
            raise fail(f"{where}: custom_subdomain", f"{self.subdomain!r} must be 2-64 "
                       "lower-case letters, digits or '-'")
        self._check_deployments(where)
        one_of(f"{where}: public_network_access", self.public_network_access,
               PUBLIC_ACCESS_MODES)
        if self.existing_network is None:
            check_cidr(f"{where}: vnet_cidr", self.vnet_cidr)
            check_subnet_cidr(f"{where}: endpoint_subnet_cidr", self.endpoint_subnet_cidr,
                              self.vnet_cidr)
        elif self.endpoint_subnet_cidr is not None:
            raise fail(f"{where}: endpoint_subnet_cidr", "applies to a network created here; "
                       "an existing_network brings its own subnet")
        if not 30 <= self.log_retention_days <= 730:
            raise fail(f"{where}: log_retention_days", f"{self.log_retention_days} is outside "
                       "Log Analytics' 30-730 days")
        for category in self.log_categories:
            one_of(f"{where}: log_categories", category, ACCOUNT_LOG_CATEGORIES)
        one_of(f"{where}: gateway_principal_type", self.gateway_principal_type, PRINCIPAL_TYPES)
        # Last: the Inputs, checked now when plain and in apply once they resolve.
        late = {
            "location": check_input(self.location, self._check_location),
            "gateway_egress_ips": check_input(self.gateway_egress_ips, self._check_egress),
        }
        if self.gateway_principal_id is not None:
            late["gateway_principal_id"] = check_input(
                self.gateway_principal_id,
                lambda v: check_guid(f"{where}: gateway_principal_id", v))
        for name, value in late.items():
            object.__setattr__(self, name, value)

    def _check_deployments(self, where: str) -> None:
        if not self.deployments:
            raise fail(f"{where}: deployments", "an account needs at least one deployment")
        for item in self.deployments:
            if not isinstance(item, ModelDeployment):
                raise fail(f"{where}: deployments", f"{item!r} is not a ModelDeployment")
        names = [d.name for d in self.deployments]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise fail(f"{where}: deployments", f"duplicate deployment names {dupes}")
        policies = {p.name for p in self.content_filters}
        if len(policies) != len(self.content_filters):
            raise fail(f"{where}: content_filters", "duplicate content filter names")
        for d in self.deployments:
            if d.content_filter is not None and d.content_filter not in policies:
                raise fail(f"{where}: deployment {d.name!r}: content_filter",
                           f"{d.content_filter!r} is not among the account's content filters "
                           f"({', '.join(sorted(policies)) or 'none'})")

    @property
    def location_known(self) -> bool:
        """True when the location is a plain string (not an Output)."""
        return is_known(self.location)
