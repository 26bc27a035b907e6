"""Resolve route targets against the places that declare them.

A route target (``bedrock:us-east-1/claude``) points at a model declared under ``aws``, a
deployment under ``azure`` or a model of an ``openai_compatible`` endpoint. Resolving gives
one flat record with everything the gateway, IAM and the residency check need.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.spec.resolve import target_index
    index = target_index(load_spec("examples/platform.yaml"))
    print(sorted(index))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skyrelay import regions
from skyrelay.catalog import load_catalog
from skyrelay.catalog.schema import CatalogPrice
from skyrelay.spec.models import (
    AzureTarget,
    BedrockModel,
    BedrockTarget,
    CompatibleTarget,
    Price,
    Spec,
)


@dataclass(frozen=True)
class ResolvedTarget:
    """A servable model: where it runs, what it costs, where it may process data."""

    key: str
    cloud: str  # bedrock | azure | openai
    kind: str  # chat | embedding
    region: str  # AWS region, Azure location, or "" for a compatible endpoint
    model: str  # Bedrock model id, Azure deployment name, or upstream model name
    price: Price
    processing: frozenset[str]
    endpoint: str = ""  # Azure account endpoint or compatible base URL
    account: str = ""  # Azure account name or compatible endpoint name
    base_model: str = ""  # Azure: the model behind the deployment (e.g. gpt-4o)
    sku: str = ""  # Azure SKU
    #: What the model can do, by the catalog (known flags only; see skyrelay.catalog).
    capabilities: dict[str, Any] = field(default_factory=dict)
    #: False when neither the spec nor the catalog gives a price (validate reports it).
    priced: bool = True
    #: The upstream API where a cloud offers several (Azure: "v1" or "classic"; Bedrock:
    #: "openai" for its OpenAI-compatible endpoint, "" for Converse).
    api: str = ""
    #: Azure classic api-version ("" : the gateway's default).
    api_version: str = ""
    #: The key reference of an OpenAI-compatible endpoint ({"env": V} or {"secret": N}).
    api_key: dict[str, str] | None = None


#: Placeholder for a target without any price; validate refuses such a spec.
_NO_PRICE = Price(input_per_million=0.0, output_per_million=0.0)


def _catalog_price(price: CatalogPrice | None) -> Price | None:
    if price is None:
        return None
    return Price(input_per_million=price.input_per_million,
                 output_per_million=price.output_per_million)


def _bedrock_api(model: BedrockModel) -> dict[str, Any]:
    """The ResolvedTarget fields of a Bedrock model on its OpenAI-compatible endpoint: the
    API, and its Bedrock API key reference when it has one (SigV4 otherwise)."""
    if model.api != "openai":
        return {}
    out: dict[str, Any] = {"api": "openai"}
    if model.api_key is not None:
        out["api_key"] = model.api_key.model_dump(exclude_none=True)
    return out


def target_index(spec: Spec) -> dict[str, ResolvedTarget]:
    """Every model the spec declares, keyed by the target key a route uses."""
    out: dict[str, ResolvedTarget] = {}
    catalog = load_catalog()
    if spec.aws:
        for region, cfg in spec.aws.regions.items():
            for m in cfg.bedrock_models:
                key = f"bedrock:{region}/{m.name}"
                known = catalog.bedrock_model(m.model_id)
                price = m.price or _catalog_price(known.price if known else None)
                out[key] = ResolvedTarget(
                    key=key, cloud="bedrock", kind=m.kind, region=region, model=m.model_id,
                    price=price or _NO_PRICE, priced=price is not None,
                    processing=regions.processing_regions_for_bedrock(
                        m.model_id, region, m.destination_regions
                    ),
                    endpoint=m.endpoint_url or f"https://bedrock-runtime.{region}.amazonaws.com",
                    capabilities=known.capabilities.as_dict() if known else {},
                    **_bedrock_api(m),
                )
    if spec.azure:
        for acct in spec.azure.accounts:
            for d in acct.deployments:
                key = f"azure:{acct.name}/{d.name}"
                version = catalog.azure_model(d.model, d.version)
                price = d.price or _catalog_price(version.price if version else None)
                out[key] = ResolvedTarget(
                    key=key, cloud="azure", kind=d.kind, region=acct.location, model=d.name,
                    price=price or _NO_PRICE, priced=price is not None,
                    processing=regions.processing_regions_for_azure(d.sku, acct.location),
                    endpoint=acct.endpoint_url or acct.endpoint, account=acct.name,
                    base_model=d.model, sku=d.sku,
                    capabilities=version.capabilities.as_dict() if version else {},
                    api=acct.api, api_version=acct.api_version or "",
                )
    for ep in spec.openai_compatible:
        for cm in ep.models:
            key = f"openai:{ep.name}/{cm.name}"
            out[key] = ResolvedTarget(
                key=key, cloud="openai", kind=cm.kind, region="", model=cm.model, price=cm.price,
                processing=regions.expand_allowed(ep.processing), endpoint=ep.base_url,
                account=ep.name,
                api_key=ep.api_key.model_dump(exclude_none=True) if ep.api_key else None,
            )
    return out


def target_key(target: BedrockTarget | AzureTarget | CompatibleTarget) -> str:
    """The index key of a route target."""
    return target.key
