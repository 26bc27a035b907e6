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
    SecretRef,
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
    #: Bedrock: "openai" for the OpenAI-compatible endpoint ("" is Converse); its auth
    #: ("api_key" or "" for SigV4) and the variable the stack puts the API key in.
    api: str = ""
    auth: str = ""
    key_env: str = ""


#: Placeholder for a target without any price; validate refuses such a spec.
_NO_PRICE = Price(input_per_million=0.0, output_per_million=0.0)


def _catalog_price(price: CatalogPrice | None) -> Price | None:
    if price is None:
        return None
    return Price(input_per_million=price.input_per_million,
                 output_per_million=price.output_per_million)


def _bedrock_api(model: BedrockModel) -> dict[str, str]:
    """The ResolvedTarget fields of a Bedrock model on its OpenAI-compatible endpoint."""
    if model.api != "openai":
        return {}
    out = {"api": "openai"}
    if model.api_key is not None:
        out["auth"] = "api_key"
        out["key_env"] = secret_ref_env(model.api_key)
    return out


def secret_ref_env(ref: SecretRef) -> str:
    """The environment variable the gateway stack fills from ``ref`` (its own name for
    ``{env: VAR}``, ``SKYRELAY_SECRET_<NAME>`` for ``{secret: NAME}``)."""
    from skyrelay.gateway.keys_plain import secret_env_name  # the name the gateway reads

    if ref.env is not None:
        return ref.env
    assert ref.secret is not None
    return secret_env_name(ref.secret)


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
                    endpoint=f"https://bedrock-runtime.{region}.amazonaws.com",
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
                    endpoint=acct.endpoint, account=acct.name, base_model=d.model, sku=d.sku,
                    capabilities=version.capabilities.as_dict() if version else {},
                )
    for ep in spec.openai_compatible:
        for cm in ep.models:
            key = f"openai:{ep.name}/{cm.name}"
            out[key] = ResolvedTarget(
                key=key, cloud="openai", kind=cm.kind, region="", model=cm.model, price=cm.price,
                processing=regions.expand_allowed(ep.processing), endpoint=ep.base_url,
                account=ep.name,
            )
    return out


def target_key(target: BedrockTarget | AzureTarget | CompatibleTarget) -> str:
    """The index key of a route target."""
    return target.key
