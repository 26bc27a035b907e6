"""The platform spec: immutable pydantic models, one class per YAML section.

Field-level rules (types, ranges, real region names, SKUs) live here; rules that need the
whole document (references between sections, residency) live in :mod:`skyrelay.spec.checks`
so that every mistake in a file is reported at once.

Example::

    from skyrelay.spec import load_spec
    spec = load_spec("examples/platform.yaml")
    print([r.name for r in spec.routes])
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from skyrelay import aws_zones, regions

Name = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"),
    Field(description="lower-case letters, digits and '-', 1-63 characters"),
]
PlatformName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"),
    Field(description="lower-case letters, digits and '-', 1-63 characters, starting with a "
                      "letter (it begins every CloudFormation stack name)"),
]
RouteName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"),
    Field(description="the model name clients ask for, e.g. gpt-4o or chat-default"),
]
PositiveMoney = Annotated[float, Field(ge=0)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]

#: CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)


class Model(BaseModel):
    """Base: immutable, and unknown keys are errors (a typo must not pass silently)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Price(Model):
    """Token prices in the spec's currency per million tokens, plus optional fixed cost."""

    input_per_million: PositiveMoney
    output_per_million: PositiveMoney
    hourly_per_unit: PositiveMoney = Field(
        0.0, description="fixed cost per capacity unit per hour (provisioned throughput)"
    )


def _check_aws_region(value: str) -> str:
    if value not in regions.AWS_REGIONS:
        raise ValueError(f"{value!r} is not an AWS region (e.g. us-east-1, eu-central-1)")
    return value


def _check_azure_region(value: str) -> str:
    if value not in regions.AZURE_REGIONS:
        raise ValueError(f"{value!r} is not an Azure region (e.g. eastus2, swedencentral)")
    return value


def _check_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(
            f"{value} is not a CloudWatch retention period; use one of "
            + ", ".join(map(str, LOG_RETENTION_DAYS))
        )
    return value


AwsRegionName = Annotated[str, AfterValidator(_check_aws_region)]


def _secure_endpoint(value: str) -> str:
    # Plain http would carry prompts (and an Azure api-key) in the clear: only to loopback.
    host = value.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    if value.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"{value!r}: use https:// (plain http only to 127.0.0.1 or "
                         "localhost, for local development)")
    return value


#: An http(s) base URL without credentials (it lands in the plain gateway config); plain
#: http only to loopback.
EndpointUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s@/]+(/[^\s]*)?$"),
                        AfterValidator(_secure_endpoint)]


class SecretRef(Model):
    """Where a secret lives: an environment variable or a secret-store name, never a value."""

    env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    secret: str | None = Field(None, pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.secret is None):
            raise ValueError("give exactly one of 'env' (variable name) or 'secret' (secret name)")
        return self


# --- AWS ---------------------------------------------------------------------------------

_BEDROCK_ID = re.compile(r"^(arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{12}:[a-z-]+/[A-Za-z0-9._:/-]+"
                         r"|[a-z0-9-]+(\.[a-z0-9-]+)?\.[A-Za-z0-9._:-]+)$")


class BedrockModel(Model):
    """A Bedrock model or system inference profile callable in one region."""

    name: Name
    model_id: str = Field(
        description="foundation-model id (openai.gpt-oss-120b-1:0) or inference profile id "
        "(us.anthropic.claude-sonnet-4-20250514-v1:0)"
    )
    price: Price | None = Field(
        None, description="per-million-token prices; default: the catalog's published price")
    destination_regions: tuple[str, ...] | None = Field(
        None, description="narrow where a cross-region profile may route (default: its geography)"
    )
    kind: Literal["chat", "embedding"] = "chat"
    endpoint_url: EndpointUrl | None = Field(
        None, description="the runtime endpoint the gateway calls instead of "
        "https://bedrock-runtime.<region>.amazonaws.com: a VPC endpoint's DNS name, or a "
        "local upstream for development")
    # Bedrock's OpenAI-compatible endpoint (bedrock-runtime /openai/v1: Chat Completions and
    # Responses for OpenAI models; SigV4 or a Bedrock API key):
    # https://docs.aws.amazon.com/bedrock/latest/userguide/inference-chat-completions.html
    # https://docs.aws.amazon.com/bedrock/latest/userguide/inference-responses-api.html
    api: Literal["converse", "openai"] = Field(
        "converse", description="'converse': the Converse API (any chat model); 'openai': "
        "bedrock-runtime's OpenAI-compatible endpoint, which also serves the Responses API")
    api_key: SecretRef | None = Field(
        None, description="api: openai only: a Bedrock API key ({secret: NAME} or {env: VAR}) "
        "sent as a bearer token instead of signing with the task role (SigV4)")

    @model_validator(mode="after")
    def _api_and_auth(self) -> BedrockModel:
        if self.api == "openai" and self.kind != "chat":
            raise ValueError("api: openai serves chat models only (the OpenAI-compatible "
                             "endpoint has no embeddings)")
        if self.api_key is not None and self.api != "openai":
            raise ValueError("api_key needs api: openai (Converse is signed with SigV4)")
        return self

    @field_validator("model_id")
    @classmethod
    def _model_id_shape(cls, value: str) -> str:
        if not _BEDROCK_ID.match(value):
            raise ValueError(
                f"{value!r} is not a Bedrock model id (provider.model-version) or inference "
                "profile id (us./eu./global. prefix)"
            )
        if value.startswith("arn:"):
            raise ValueError("give the model or profile id, not an ARN: ARNs are derived")
        return value

    @field_validator("destination_regions")
    @classmethod
    def _dest(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for region in value or ():
            _check_aws_region(region)
        return value

    @property
    def is_profile(self) -> bool:
        """True for a system-defined cross-region inference profile id."""
        return regions.profile_prefix(self.model_id) is not None


class AwsRegion(Model):
    """One AWS region of the platform: its VPC and the Bedrock models used there."""

    vpc_cidr: str = "10.0.0.0/16"
    az_count: int = Field(2, ge=1, le=6)
    zone_ids: tuple[Annotated[str, StringConstraints(pattern=r"^[a-z]+[0-9]+-az[0-9]+$")],
                    ...] = Field(
        (), description="availability zone IDs (use1-az1 ...), the same physical zones in "
                        "every account; default: the first az_count IDs of the region")
    bedrock_models: tuple[BedrockModel, ...] = ()

    def zones(self, region: str) -> tuple[str, ...]:
        """The zone IDs the region's VPC uses: ``zone_ids``, else the region's defaults."""
        return self.zone_ids or aws_zones.default_zone_ids(region, self.az_count)

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a CIDR block: {exc}") from None
        if not isinstance(net, ipaddress.IPv4Network) or not net.is_private:
            raise ValueError(f"{value!r} must be a private IPv4 range (RFC 1918)")
        if not 16 <= net.prefixlen <= 24:
            raise ValueError(f"{value!r}: the VPC prefix must be between /16 and /24")
        return value


class InvocationLogging(Model):
    """Bedrock model invocation logging (account-level, per region)."""

    enabled: bool = True
    log_retention_days: int = 365
    text: bool = True
    image: bool = False
    embedding: bool = False

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return _check_retention(value)


class Alarms(Model):
    """Thresholds for Bedrock alarms and where they notify."""

    throttles_per_5min: int = Field(10, ge=1)
    server_errors_per_5min: int = Field(5, ge=1)
    p99_latency_ms: int = Field(30000, ge=100)
    notify_emails: tuple[Email, ...] = ()


class Aws(Model):
    """The AWS side: account (optional), regions, logging and alarms."""

    account: str | None = Field(None, pattern=r"^\d{12}$")
    regions: dict[AwsRegionName, AwsRegion] = Field(min_length=1)
    invocation_logging: InvocationLogging = InvocationLogging()
    alarms: Alarms = Alarms()


# --- Azure -------------------------------------------------------------------------------

AzureSku = Literal["Standard", "GlobalStandard", "DataZoneStandard", "ProvisionedManaged"]


class AzureDeployment(Model):
    """One model deployment on an Azure OpenAI account."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    model: str = Field(min_length=1, description="model name, e.g. gpt-4o")
    version: str = Field(min_length=1, description="model version, e.g. 2024-11-20")
    sku: AzureSku
    capacity: int = Field(ge=1, description="thousands of tokens/min (Standard) or PTUs")
    content_filter: str | None = Field(None, description="name of a content_filters entry")
    price: Price | None = Field(
        None, description="per-million-token prices; default: the catalog's published price")
    kind: Literal["chat", "embedding"] = "chat"
    version_upgrade: Literal["OnceCurrentVersionExpired", "OnceNewDefaultVersionAvailable",
                             "NoAutoUpgrade"] = Field(
        "OnceCurrentVersionExpired",
        description="when Azure moves the deployment to a newer model version; NoAutoUpgrade "
                    "pins it (it stops working when the version retires)")


Severity = Literal["Low", "Medium", "High"]
HarmLevel = Literal["Low", "Medium", "High", "off"]


class HarmSources(Model):
    """Thresholds of one harm category on prompts and completions (None: the filter's)."""

    prompt: HarmLevel | None = None
    completion: HarmLevel | None = None


class ContentFilter(Model):
    """A content-filter (RAI) policy, at least Azure's default safety policy unless told.

    The four harm categories are filtered on prompts and completions at
    ``severity_threshold`` (``harm`` overrides one category or source, ``off`` disables it);
    the detection models (jailbreak and indirect-attack prompt shields, protected material
    text and code) are on. ``blocking: false`` only annotates. The same definitions feed
    every cloud's guardrails.
    """

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
    base_policy: Literal["Microsoft.DefaultV2", "Microsoft.Default"] = "Microsoft.DefaultV2"
    severity_threshold: Severity = "Medium"
    blocking: bool = True
    harm: dict[Literal["hate", "sexual", "violence", "self_harm"], HarmSources] = {}
    jailbreak_detection: bool = True
    indirect_attack_detection: bool = True
    protected_material_text: bool = True
    protected_material_code: bool = True

    def harm_overrides(self) -> dict[str, dict[str, str]]:
        """``harm`` as plain ``{category: {source: level}}`` (unset sources left out)."""
        return {cat: {src: lvl for src, lvl in (("prompt", h.prompt),
                                                ("completion", h.completion)) if lvl}
                for cat, h in self.harm.items()}


class AzureVpn(Model):
    """The Azure end of an account's ``gateway_path: private-vpn``.

    Example (YAML, under an account)::

        gateway_path: private-vpn
        public_network_access: disabled
        vpn: {sku: VpnGw1AZ, asn: 65515}
    """

    sku: Literal["VpnGw1AZ", "VpnGw2AZ", "VpnGw3AZ", "VpnGw4AZ", "VpnGw5AZ"] = Field(
        "VpnGw1AZ", description="the zone-redundant VPN gateway SKU "
        "(learn.microsoft.com/azure/vpn-gateway/about-zone-redundant-vnet-gateway)")
    asn: int = Field(65515, ge=1, le=4294967295,
                     description="the Azure gateway's BGP ASN (65515: Azure's default); it "
                                 "must differ from the AWS side's (64512)")
    gateway_subnet: str | None = Field(
        None, description="the GatewaySubnet, /27 or larger, inside vnet_cidr (default: "
                          "the /27 after the private endpoints' half of vnet_cidr)")
    resolver_subnet: str | None = Field(
        None, description="the DNS Private Resolver inbound endpoint's subnet, /28 to /24, "
                          "inside vnet_cidr (default: the /28 after the GatewaySubnet)")
    # No default: Microsoft's price pages could not be read and cited where these were
    # written (skyrelay/catalog/data/network.yaml); `plan` says when they are missing.
    gateway_price_per_hour: PositiveMoney | None = Field(
        None, description="the VPN gateway SKU's price per hour in the spec's currency "
                          "(azure.microsoft.com/pricing/details/vpn-gateway); no default")
    resolver_endpoint_price_per_hour: PositiveMoney | None = Field(
        None, description="the DNS Private Resolver inbound endpoint's price per hour in the "
                          "spec's currency (azure.microsoft.com/pricing/details/dns); no default")


class AzureAccount(Model):
    """An Azure OpenAI account (a Foundry resource by default) and its deployments."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")]
    location: str
    kind: Literal["AIServices", "OpenAI"] = Field(
        "AIServices", description="AIServices: a Foundry resource (default); OpenAI: a classic "
        "Azure OpenAI account, which Microsoft may upgrade to AIServices (drift)")
    custom_subdomain: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
    public_network_access: Literal["gateway-egress-only", "disabled"] = Field(
        "gateway-egress-only",
        description="'gateway-egress-only': the public endpoint, default deny, only the "
                    "gateways' NAT addresses allowed (the path from AWS); 'disabled': the "
                    "private endpoint only, which needs a private path from every gateway")
    vnet_cidr: str = "10.100.0.0/24"
    gateway_path: Literal["public-allowlist", "private-vpn"] = Field(
        "public-allowlist",
        description="how the gateways in AWS reach this account: 'public-allowlist' (the "
                    "public endpoint, only the gateways' NAT addresses allowed) or "
                    "'private-vpn' (a BGP site-to-site VPN from every gateway region's VPC "
                    "to a VPN gateway in this account's network, and the private endpoint; "
                    "needs public_network_access: disabled)")
    vpn: AzureVpn | None = Field(
        None, description="settings of the private-vpn path (default: AzureVpn())")
    deployments: tuple[AzureDeployment, ...] = Field(min_length=1)
    api: Literal["v1", "classic"] = Field(
        "v1", description="the data-plane API the gateway calls: 'v1' (/openai/v1/..., no "
        "api-version; learn.microsoft.com/azure/foundry/openai/api-version-lifecycle) or "
        "'classic' (/openai/deployments/<name>/...?api-version=<api_version>)")
    api_version: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}(-preview)?$")] \
        | None = Field(None, description="the classic api-version (default: the gateway's, "
                       "2024-10-21); only with api: classic")
    endpoint_url: EndpointUrl | None = Field(
        None, description="the data-plane endpoint the gateway calls instead of "
        "https://<subdomain>.openai.azure.com/ (a local upstream for development)")

    @field_validator("location")
    @classmethod
    def _loc(cls, value: str) -> str:
        return _check_azure_region(value)

    @field_validator("vnet_cidr")
    @classmethod
    def _vnet(cls, value: str) -> str:
        # What an Azure virtual network with one subnet of the same range accepts.
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a CIDR block: {exc}") from None
        if not isinstance(net, ipaddress.IPv4Network) or not net.is_private:
            raise ValueError(f"{value!r} must be a private IPv4 range (RFC 1918)")
        if not 8 <= net.prefixlen <= 29:
            raise ValueError(f"{value!r}: the prefix must be between /8 and /29")
        return value

    @model_validator(mode="after")
    def _api_version_only_for_classic(self) -> AzureAccount:
        if self.api_version is not None and self.api != "classic":
            raise ValueError("api_version applies to api: classic only (the v1 API has no "
                             "api-version); set api: classic or remove api_version")
        return self

    @model_validator(mode="after")
    def _vpn_only_for_private_vpn(self) -> AzureAccount:
        if self.vpn is not None and self.gateway_path != "private-vpn":
            raise ValueError("vpn applies to gateway_path: private-vpn only; set "
                             "gateway_path: private-vpn or remove vpn")
        return self

    @property
    def vpn_settings(self) -> AzureVpn | None:
        """The VPN settings of a private-vpn account (defaults filled), else None."""
        if self.gateway_path != "private-vpn":
            return None
        return self.vpn or AzureVpn()

    @property
    def subdomain(self) -> str:
        """The custom subdomain, derived from the account name when the spec omits it."""
        return self.custom_subdomain or self.name

    @property
    def endpoint(self) -> str:
        """The account's Azure OpenAI data-plane endpoint URL."""
        return f"https://{self.subdomain}.openai.azure.com/"

    @property
    def foundry_endpoint(self) -> str | None:
        """The Foundry endpoint of an AIServices account (None for kind OpenAI)."""
        return f"https://{self.subdomain}.services.ai.azure.com/" \
            if self.kind == "AIServices" else None


class Azure(Model):
    """The Azure side: subscription (optional), content filters, OpenAI accounts."""

    subscription: str | None = Field(
        None, pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )
    resource_group: str | None = Field(
        None, pattern=r"^[-\w.()]{0,89}[-\w()]$",
        description="one shared resource group (Azure: 1-90 letters, digits, '_', '-', '.', "
                    "'(' or ')', not ending in '.'); default: one group per account")
    log_retention_days: int = Field(90, ge=30, le=730)
    content_filters: tuple[ContentFilter, ...] = ()
    accounts: tuple[AzureAccount, ...] = Field(min_length=1)


# --- OpenAI-compatible upstreams ------------------------------------------------------

class CompatibleModel(Model):
    """A model served by an OpenAI-compatible endpoint."""

    name: Name
    model: str = Field(min_length=1, description="the model name the upstream expects")
    price: Price
    kind: Literal["chat", "embedding"] = "chat"


class CompatibleEndpoint(Model):
    """Any OpenAI-compatible upstream by base URL (OpenAI itself, an on-premises vLLM)."""

    name: Name
    base_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]
    api_key: SecretRef | None = None
    processing: tuple[str, ...] = Field(
        min_length=1, description="regions or geographies where it processes data, or 'any'"
    )
    models: tuple[CompatibleModel, ...] = Field(min_length=1)

    @field_validator("base_url")
    @classmethod
    def _no_credentials_in_url(cls, value: str) -> str:
        # The URL lands in the gateway config, which is a plain SSM value in the templates.
        if "@" in value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("must not carry a user name or password (user:password@host); "
                             "give the key as api_key: {secret: NAME} or {env: VAR}")
        return value

    @field_validator("processing")
    @classmethod
    def _processing(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        regions.expand_allowed(value)  # raises ValueError naming the bad entry
        return value


# --- Routes ---------------------------------------------------------------------------

class BedrockTarget(Model):
    """Route to a Bedrock model declared under ``aws.regions.<region>.bedrock_models``."""

    cloud: Literal["bedrock"]
    region: str
    model: Name
    weight: int = Field(1, ge=0, le=1000)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return _check_aws_region(value)

    @property
    def key(self) -> str:
        """Stable target id, e.g. ``bedrock:us-east-1/claude-sonnet``."""
        return f"bedrock:{self.region}/{self.model}"


class AzureTarget(Model):
    """Route to an Azure OpenAI deployment declared under ``azure.accounts``."""

    cloud: Literal["azure"]
    account: str
    deployment: str
    weight: int = Field(1, ge=0, le=1000)

    @property
    def key(self) -> str:
        """Stable target id, e.g. ``azure:acme-swc/gpt-4o``."""
        return f"azure:{self.account}/{self.deployment}"


class CompatibleTarget(Model):
    """Route to a model of an ``openai_compatible`` endpoint."""

    cloud: Literal["openai"]
    endpoint: str
    model: str
    weight: int = Field(1, ge=0, le=1000)

    @property
    def key(self) -> str:
        """Stable target id, e.g. ``openai:vllm/llama``."""
        return f"openai:{self.endpoint}/{self.model}"


Target = Annotated[BedrockTarget | AzureTarget | CompatibleTarget, Field(discriminator="cloud")]


class Route(Model):
    """A model name clients ask for, and the targets that may serve it."""

    name: RouteName
    kind: Literal["chat", "embedding"] = "chat"
    strategy: Literal["priority", "weighted", "lowest-cost", "lowest-latency"] = "priority"
    targets: tuple[Target, ...] = Field(min_length=1)
    timeout_seconds: float = Field(60.0, gt=0, le=900)
    max_attempts: int = Field(3, ge=1, le=10)
    content_filter: str | None = Field(
        None, description="a content_filters entry applied to every call of this route: "
                          "the Azure RAI policy and, on Bedrock, the same filter's guardrail "
                          "(a tenant's own content_filter takes precedence)")


# --- Tenants and compliance -----------------------------------------------------------

class Tenant(Model):
    """A caller of the gateway: its key reference, routes, classification and limits."""

    name: Name
    api_key: SecretRef
    routes: tuple[RouteName, ...] = Field(min_length=1)
    classification: str
    monthly_budget: PositiveMoney
    requests_per_minute: int = Field(ge=1)
    tokens_per_minute: int = Field(ge=1)
    content_filter: str | None = Field(
        None, description="a content_filters entry applied to all of this tenant's Bedrock "
                          "calls (as the guardrail made from it); wins over a route's")

    @field_validator("api_key", mode="before")
    @classmethod
    def _no_plaintext(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError(
                "a plaintext key is not allowed in the spec; give a reference: "
                "{env: VARIABLE_NAME} or {secret: secret/name}"
            )
        return value


class Classification(Model):
    """A data classification and where its data may be processed."""

    allowed: tuple[str, ...] = Field(
        min_length=1, description="regions, geographies (us, eu, ...) or 'any'"
    )
    description: str = ""

    @field_validator("allowed")
    @classmethod
    def _allowed(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        regions.expand_allowed(value)
        return value

    def allowed_set(self) -> frozenset[str]:
        """The allowed processing set, expanded to ``cloud:region`` members."""
        return regions.expand_allowed(self.allowed)


class Compliance(Model):
    """Data-residency rules: classification -> where its data may be processed."""

    classifications: dict[Name, Classification] = Field(min_length=1)


# --- Fine-tuning and gateway ----------------------------------------------------------

class FineTuningJob(Model):
    """A SageMaker training job (``training_image``) or Bedrock customization (``base_model``)."""

    name: Name
    region: str
    training_image: str | None = Field(
        None, pattern=r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+"
                      r"(:[\w.-]+|@sha256:[0-9a-f]{64})?$",
        description="an ECR image URI: <account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag]")
    base_model: str | None = None
    instance_type: str = Field("ml.g5.2xlarge", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    instance_count: int = Field(1, ge=1, le=64)
    dataset_s3_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]*$")] = ""
    hyperparameters: dict[str, str | int | float] = {}
    max_runtime_hours: float = Field(24, gt=0, le=28 * 24)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return _check_aws_region(value)

    @field_validator("max_runtime_hours")
    @classmethod
    def _runtime(cls, value: float) -> float:
        if round(value * 60) < 1:  # the stack gives the job whole minutes
            raise ValueError(f"{value} hours is less than a minute; a job needs at least "
                             "one minute (0.0167 hours)")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FineTuningJob:
        if (self.training_image is None) == (self.base_model is None):
            raise ValueError(
                "give exactly one of 'training_image' (SageMaker) or 'base_model' (Bedrock)"
            )
        return self


class FineTuning(Model):
    """Fine-tuning jobs."""

    jobs: tuple[FineTuningJob, ...] = ()


#: Fargate (Linux) memory per task size: cpu -> (lowest, highest, step) in MiB. cpu 256 also
#: takes 512.
FARGATE_MEMORY = {256: (1024, 2048, 1024), 512: (1024, 4096, 1024), 1024: (2048, 8192, 1024),
                  2048: (4096, 16384, 1024), 4096: (8192, 30720, 1024)}


_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")
_DOMAIN = re.compile(r"^(?=.{1,64}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*"
                     r"[a-z0-9]$")


class GatewayTls(Model):
    """TLS on the gateway's internal load balancer (HTTPS on 443, a TLS 1.2+ policy).

    ``certificate``:

    * ``private-ca`` (default): the gateway stack creates an ACM Private CA (a root CA,
      general-purpose mode, billed monthly by AWS) and an ACM private certificate for
      ``domain_name`` (default ``gateway.<region>.<platform>.internal``), plus a Route 53
      private hosted zone in the VPC resolving that name to the load balancer. Clients trust
      the CA's certificate (``aws acm-pca get-certificate-authority-certificate``);
    * ``acm``: an existing ACM certificate per gateway region (``certificate_arns``);
    * ``plain-http``: the documented opt-out (port 80, tenant keys and prompts in clear
      text inside the VPC); it needs ``plain_http_reason``, and ``plan`` and ``check``
      (rule SKY-AWS-010) flag it.
    """

    certificate: Literal["private-ca", "acm", "plain-http"] = "private-ca"
    certificate_arns: dict[AwsRegionName, str] = Field(
        {}, description="certificate: acm - the ACM certificate ARN of each gateway region")
    domain_name: str | None = Field(
        None, description="certificate: private-ca - the name clients use (at most 64 "
                          "characters, the certificate's common name); default "
                          "gateway.<region>.<platform>.internal")
    plain_http_reason: str | None = Field(
        None, min_length=10, description="certificate: plain-http - why (kept in the plan)")

    @field_validator("certificate_arns")
    @classmethod
    def _arns(cls, value: dict[str, str]) -> dict[str, str]:
        for region, arn in value.items():
            match = _CERT_ARN.match(arn)
            if not match:
                raise ValueError(f"{arn!r} is not an ACM certificate ARN "
                                 "(arn:aws:acm:<region>:<account>:certificate/<uuid>)")
            if match.group(1) != region:
                raise ValueError(f"the certificate for {region} is in {match.group(1)}; a "
                                 "load balancer takes only certificates of its own region")
        return value

    @field_validator("domain_name")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and not _DOMAIN.match(value):
            raise ValueError(f"{value!r} is not a lower-case DNS name of at most 64 "
                             "characters with at least two labels (gateway.example.internal)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GatewayTls:
        if self.certificate == "plain-http" and not self.plain_http_reason:
            raise ValueError("certificate: plain-http is an explicit opt-out: give "
                             "plain_http_reason (why clear text inside the VPC is acceptable)")
        if self.certificate != "plain-http" and self.plain_http_reason:
            raise ValueError("plain_http_reason applies only to certificate: plain-http")
        if self.certificate != "acm" and self.certificate_arns:
            raise ValueError("certificate_arns apply only to certificate: acm")
        if self.certificate != "private-ca" and self.domain_name:
            raise ValueError("domain_name applies only to certificate: private-ca (an ACM "
                             "certificate carries its own names)")
        return self

    def domain_for(self, platform: str, region: str) -> str:
        """The private-CA certificate's name in ``region``."""
        return self.domain_name or f"gateway.{region}.{platform}.internal"


_OTLP_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")


class GatewayTracing(Model):
    """OpenTelemetry GenAI traces from the gateway (off by default).

    ``exporter``:

    * ``off`` (default): no spans; the standard ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``
      variables in the gateway's environment still turn tracing on (``OTEL_SDK_DISABLED``
      turns it off);
    * ``otlp``: OTLP/HTTP protobuf to ``endpoint`` (a traces URL such as
      ``http://collector:4318/v1/traces``; default ``http://localhost:4318/v1/traces``);
    * ``adot-xray``: on AWS, the gateway stack adds the AWS Distro for OpenTelemetry
      collector as a sidecar of each task, exporting to AWS X-Ray; the gateway sends to
      it on ``127.0.0.1:4318``.

    Prompt and completion text is on the spans only with ``gateway.log_prompts``.
    """

    exporter: Literal["off", "otlp", "adot-xray"] = "off"
    endpoint: str | None = Field(
        None, description="exporter: otlp - the OTLP/HTTP traces URL (http or https)")
    sample_ratio: float = Field(
        1.0, ge=0.0, le=1.0, description="share of the requests traced (a caller's sampled "
                                         "traceparent decides for its own requests)")
    collector_image: str | None = Field(
        None, pattern=r"^\S+$",
        description="exporter: adot-xray - the collector image instead of the pinned one from "
                    "ECR Public (which needs NAT to pull), e.g. an ECR pull-through cache")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not _OTLP_URL.match(value):
            raise ValueError(f"{value!r} is not an http(s) URL "
                             "(http://collector:4318/v1/traces)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GatewayTracing:
        if self.endpoint is not None and self.exporter != "otlp":
            raise ValueError("endpoint applies only to exporter: otlp (adot-xray sends to "
                             "its sidecar on 127.0.0.1)")
        if self.collector_image is not None and self.exporter != "adot-xray":
            raise ValueError("collector_image applies only to exporter: adot-xray")
        return self


class Gateway(Model):
    """Where and how big the gateway service runs (``regions: []``: not yet)."""

    regions: tuple[str, ...] = Field(
        description="AWS regions that run the gateway service; [] runs none yet (the routes, "
                    "tenants and policies are still validated)")
    cpu: Literal[256, 512, 1024, 2048, 4096] = 1024
    memory_mib: int = Field(2048, ge=512, le=30720)
    min_tasks: int = Field(2, ge=1)
    max_tasks: int = Field(6, ge=1)
    log_retention_days: int = 90
    log_prompts: bool = Field(False, description="log prompt and completion text (off: privacy)")
    cross_region_bedrock: dict[AwsRegionName, tuple[AwsRegionName, ...]] = Field(
        {}, description="gateway region -> other regions whose Bedrock models its gateway "
                        "may call directly; that traffic leaves the VPC (NAT to the other "
                        "region's public endpoint) and the grant has no VPC-endpoint "
                        "condition. Default: each gateway calls only its own region's Bedrock")
    tls: GatewayTls = GatewayTls()
    tracing: GatewayTracing = GatewayTracing()

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return _check_retention(value)

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for region in value:
            _check_aws_region(region)
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Gateway:
        if self.max_tasks < self.min_tasks:
            raise ValueError(f"max_tasks ({self.max_tasks}) is below min_tasks ({self.min_tasks})")
        return self

    def fargate_size_problem(self) -> str | None:
        """Why ``cpu`` and ``memory_mib`` are no Fargate task size, or None when they are."""
        low, high, step = FARGATE_MEMORY[self.cpu]
        if low <= self.memory_mib <= high and self.memory_mib % step == 0 \
                or self.cpu == 256 and self.memory_mib == 512:
            return None
        first = "512, " if self.cpu == 256 else ""
        return (f"Fargate has no task size with cpu {self.cpu} and memory_mib {self.memory_mib}: "
                f"with cpu {self.cpu} use {first}{low} to {high} in steps of {step}")


_TAG_KEY = re.compile(r"^[A-Za-z0-9 _.:=+@-]{1,128}$")
_TAG_VALUE = re.compile(r"^[A-Za-z0-9 _.:/=+@-]{1,256}$")
_RESERVED_TAG_PREFIXES = ("aws:", "microsoft", "azure", "windows")


def _check_tag_key(key: str) -> str:
    # Tags go on every AWS and Azure resource: only what both clouds accept everywhere.
    if not _TAG_KEY.match(key):
        raise ValueError(f"tag key {key!r}: 1-128 letters, digits, spaces and _.:=+@- "
                         "(no '/': Azure refuses it)")
    if key.lower().startswith(_RESERVED_TAG_PREFIXES):
        raise ValueError(f"tag key {key!r}: the prefixes {', '.join(_RESERVED_TAG_PREFIXES)} "
                         "are reserved by the clouds")
    return key


def _check_tag_value(value: str) -> str:
    if not _TAG_VALUE.match(value):
        raise ValueError(f"tag value {value!r}: 1-256 letters, digits, spaces and _.:/=+@- "
                         "(some resource types refuse an empty value)")
    return value


TagKey = Annotated[str, AfterValidator(_check_tag_key)]
TagValue = Annotated[str, AfterValidator(_check_tag_value)]


class Spec(Model):
    """The whole platform spec. Load it with :func:`skyrelay.spec.load_spec`."""

    version: Literal[1] = 1
    name: PlatformName
    currency: Literal["USD", "EUR", "GBP"] = "USD"
    tags: dict[TagKey, TagValue] = {}
    aws: Aws | None = None
    azure: Azure | None = None
    openai_compatible: tuple[CompatibleEndpoint, ...] = ()
    routes: tuple[Route, ...] = Field(min_length=1)
    tenants: tuple[Tenant, ...] = Field(min_length=1)
    compliance: Compliance
    fine_tuning: FineTuning = FineTuning()
    gateway: Gateway
    strict_catalog: bool = Field(
        False, description="a model, version or placement the catalog does not know is an "
                           "error instead of a warning (skyrelay.catalog)")
