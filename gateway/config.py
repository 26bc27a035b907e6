"""The gateway's runtime config: typed, immutable view of the JSON that
:func:`skyrelay.views.gateway_config.gateway_config` derives from the spec.

Example::

    import json
    from skyrelay.gateway.config import GatewayConfig
    cfg = GatewayConfig.from_dict(json.load(open("gateway.json")))
    print(cfg.routes["gpt-4o"].targets)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_NO_CAPABILITIES: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TargetPrice:
    """Price per million tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """Cost of a request with these token counts."""
        return (input_tokens * self.input_per_million
                + output_tokens * self.output_per_million) / 1_000_000


@dataclass(frozen=True, slots=True)
class TargetConfig:
    """One upstream model: Bedrock model id in a region, Azure deployment, or compatible model.

    ``endpoint`` is the upstream base URL (Bedrock runtime endpoint, Azure account endpoint,
    or compatible base URL); tests and VPC endpoints override it. ``capabilities`` holds the
    model catalog's known flags (``tool_use``, ``image_input``, ...; an absent flag is
    unknown), copied into the derived config so the gateway never reads the catalog.
    """

    key: str
    cloud: str  # "bedrock" | "azure" | "openai"
    kind: str  # "chat" | "embedding"
    region: str
    model: str
    endpoint: str
    price: TargetPrice
    processing: frozenset[str]
    account: str = ""
    base_model: str = ""
    sku: str = ""
    capabilities: Mapping[str, Any] = field(default_factory=lambda: _NO_CAPABILITIES,
                                            hash=False)
    #: the upstream API where a cloud offers more than one: Bedrock ``""`` (Converse) or
    #: ``"openai"`` (its OpenAI-compatible endpoint); Azure ``"v1"`` (default) or
    #: ``"classic"`` (dated api-version paths)
    api: str = ""
    #: Azure classic api-version (empty: the gateway's default)
    api_version: str = ""
    #: an OpenAI-compatible endpoint's key reference (``{"env": V}`` / ``{"secret": N}``,
    #: read through ``skyrelay.gateway.envnames``), never the key itself
    api_key: Mapping[str, str] | None = field(default=None, hash=False)

    def supports(self, flag: str) -> bool | None:
        """The catalog's answer for one capability flag; None when it is not known."""
        value = self.capabilities.get(flag)
        return value if isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """A target of a route with its weight."""

    key: str
    weight: int = 1


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """A client-facing model name and how it is served."""

    name: str
    kind: str
    strategy: str
    timeout_seconds: float
    max_attempts: int
    targets: tuple[RouteTarget, ...]
    classifications: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TenantConfig:
    """A tenant: key reference, allowed routes, classification and limits."""

    name: str
    api_key: dict[str, str]
    routes: tuple[str, ...]
    classification: str
    monthly_budget: float
    requests_per_minute: int
    tokens_per_minute: int


@dataclass(frozen=True, slots=True)
class ClassificationConfig:
    """Where data of one classification may be processed (``*`` = anywhere)."""

    name: str
    allowed: tuple[str, ...]
    processing_allowed: frozenset[str]


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """The spec's ``gateway.tracing`` as derived (``skyrelay.gateway.telemetry.settings``
    decides, with the ``OTEL_*`` environment, whether and where the gateway traces)."""

    exporter: str = "off"  # "off" | "otlp" | "adot-xray" (an OTLP collector in the task)
    endpoint: str = ""
    sample_ratio: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        """The derived-config shape :func:`skyrelay.gateway.telemetry.settings.resolve` reads."""
        return {"exporter": self.exporter, "endpoint": self.endpoint,
                "sample_ratio": self.sample_ratio}


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway needs at run time."""

    name: str
    currency: str
    targets: dict[str, TargetConfig]
    routes: dict[str, RouteConfig]
    tenants: dict[str, TenantConfig]
    classifications: dict[str, ClassificationConfig]
    log_prompts: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    tracing: TracingConfig = TracingConfig()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GatewayConfig:
        """Build from the derived JSON (raises KeyError/TypeError/ValueError on bad input)."""
        if data.get("version") != 1:
            raise ValueError(f"unsupported gateway config version {data.get('version')!r}")
        targets = {
            key: TargetConfig(
                key=key, cloud=t["cloud"], kind=t["kind"], region=t["region"], model=t["model"],
                endpoint=t["endpoint"], price=TargetPrice(**t["price"]),
                processing=frozenset(t["processing"]), account=t.get("account", ""),
                base_model=t.get("base_model", ""), sku=t.get("sku", ""),
                capabilities=MappingProxyType(dict(t.get("capabilities") or {})),
                api=str(t.get("api") or ""), api_version=str(t.get("api_version") or ""),
                api_key=(MappingProxyType(dict(t["api_key"])) if t.get("api_key") else None),
            )
            for key, t in data["targets"].items()
        }
        routes = {
            name: RouteConfig(
                name=name, kind=r["kind"], strategy=r["strategy"],
                timeout_seconds=float(r["timeout_seconds"]), max_attempts=int(r["max_attempts"]),
                targets=tuple(RouteTarget(t["key"], int(t.get("weight", 1))) for t in r["targets"]),
                classifications=tuple(r["classifications"]),
            )
            for name, r in data["routes"].items()
        }
        tenants = {
            name: TenantConfig(
                name=name, api_key=dict(t["api_key"]), routes=tuple(t["routes"]),
                classification=t["classification"], monthly_budget=float(t["monthly_budget"]),
                requests_per_minute=int(t["requests_per_minute"]),
                tokens_per_minute=int(t["tokens_per_minute"]),
            )
            for name, t in data["tenants"].items()
        }
        classes = {
            name: ClassificationConfig(name, tuple(c["allowed"]),
                                       frozenset(c["processing_allowed"]))
            for name, c in data["classifications"].items()
        }
        # Content filters and their Bedrock guardrails (gateway/providers/bedrock_guardrails.py).
        filters = {"tenants": {n: t["content_filter"] for n, t in data["tenants"].items()
                               if t.get("content_filter")},
                   "routes": {n: r["content_filter"] for n, r in data["routes"].items()
                              if r.get("content_filter")}}
        tracing = data.get("tracing") or {}
        return cls(name=data["name"], currency=data["currency"], targets=targets, routes=routes,
                   tenants=tenants, classifications=classes,
                   log_prompts=bool(data.get("log_prompts", False)),
                   extra={"content_filters": filters,
                          "guardrails": dict(data.get("guardrails") or {}),
                          # account -> "private-vpn" (the others: "public-allowlist")
                          "azure_paths": dict(data.get("azure_paths") or {})},
                   tracing=TracingConfig(exporter=str(tracing.get("exporter", "off")),
                                         endpoint=str(tracing.get("endpoint") or ""),
                                         sample_ratio=float(tracing.get("sample_ratio", 1.0))))
