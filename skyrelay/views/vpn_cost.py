"""The private path's monthly cost: what ``gateway_path: private-vpn`` adds, per gateway region.

Per gateway region (the ``<name>-<region>-vpn`` stack): two Site-to-Site VPN connections (one
per Azure gateway instance) and a Route 53 Resolver outbound endpoint with one address per
zone of the gateway's subnets. Per private-vpn account (shared by every region): the
zone-redundant VPN gateway (its SKU) and the DNS Private Resolver inbound endpoint. Each is
``price per hour x 730``; the prices come from ``skyrelay/catalog/data/network.yaml`` (each
with the page it was read on), in USD only, or from the spec
(``azure.accounts[].vpn.gateway_price_per_hour`` / ``resolver_endpoint_price_per_hour``, in
the spec's currency). A price known from neither is reported as missing, never guessed.

Example::

    from skyrelay.views.vpn_cost import private_path_costs
    for line in private_path_costs(spec).lines:
        print(line.scope, line.item, line.monthly)   # monthly is None when no price is known
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from skyrelay.spec.models import Spec
from skyrelay.views.private_path import private_vpn_accounts, vpn_regions, vpn_stack_name

HOURS_PER_MONTH = 730
#: Connections per gateway region: one per Azure gateway instance (active-active).
CONNECTIONS_PER_REGION = 2


@dataclass(frozen=True)
class CatalogNetworkPrice:
    """One price of the network catalog (USD per hour, None when no page could be cited)."""

    key: str
    price: float | None
    unit: str
    url: str
    note: str = ""


@lru_cache(maxsize=1)
def network_prices() -> dict[str, CatalogNetworkPrice]:
    """The network catalog's prices by key (``aws_vpn_connection_hour`` ...)."""
    text = resources.files("skyrelay.catalog").joinpath("data/network.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    if data.get("currency") != "USD":
        raise ValueError("skyrelay/catalog/data/network.yaml: prices must be in USD")
    out = {}
    for key, entry in data["prices"].items():
        if not str(entry.get("url", "")).startswith("https://"):
            raise ValueError(f"network.yaml: price {key} names no source URL")
        price = entry.get("price")
        out[key] = CatalogNetworkPrice(key, None if price is None else float(price),
                                       str(entry["unit"]), str(entry["url"]),
                                       str(entry.get("note", "")))
    return out


@dataclass(frozen=True)
class CostLine:
    """One billed item of the private path: ``monthly`` is None when its price is unknown."""

    scope: str  # "aws:<region>" or "azure:<account>"
    item: str
    quantity: int
    price_per_hour: float | None
    source: str
    monthly: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the plan."""
        return {"scope": self.scope, "item": self.item, "quantity": self.quantity,
                "price_per_hour": self.price_per_hour, "source": self.source,
                "monthly": self.monthly}


@dataclass
class PrivatePathCost:
    """Every cost line of the spec's private paths; totals count known prices only."""

    currency: str
    lines: list[CostLine] = field(default_factory=list)

    @property
    def missing(self) -> list[CostLine]:
        """The lines whose price neither the catalog nor the spec gives."""
        return [line for line in self.lines if line.monthly is None]

    def total(self, scope: str | None = None) -> float:
        """The sum of the known lines (of one scope, when given)."""
        return round(sum(line.monthly or 0.0 for line in self.lines
                         if scope is None or line.scope == scope), 2)


def _line(scope: str, item: str, quantity: int, price: float | None, source: str) -> CostLine:
    monthly = None if price is None else round(quantity * price * HOURS_PER_MONTH, 2)
    return CostLine(scope, item, quantity, price, source, monthly)


def private_path_costs(spec: Spec) -> PrivatePathCost:
    """The monthly cost lines of every private path of ``spec`` (none without one)."""
    cost = PrivatePathCost(spec.currency)
    catalog = network_prices()
    usd = spec.currency == "USD"  # the catalog's prices are USD list prices

    def from_catalog(key: str) -> tuple[float | None, str]:
        entry = catalog[key]
        if entry.price is None:
            return None, f"no citable price ({entry.url})"
        if not usd:
            return None, (f"no {spec.currency} price: the catalog's is USD {entry.price} "
                          f"({entry.url})")
        return entry.price, entry.url

    for region in vpn_regions(spec):
        scope = f"aws:{region}"
        price, source = from_catalog("aws_vpn_connection_hour")
        item = f"Site-to-Site VPN connections ({vpn_stack_name(spec.name, region)})"
        cost.lines.append(_line(scope, item, CONNECTIONS_PER_REGION, price, source))
        assert spec.aws is not None
        zones = len(spec.aws.regions[region].zones(region)) if region in spec.aws.regions else 2
        price, source = from_catalog("aws_resolver_endpoint_ip_hour")
        cost.lines.append(_line(scope, "Route 53 Resolver outbound endpoint addresses",
                                max(2, zones), price, source))
    if not spec.gateway.regions:
        return cost
    for account in private_vpn_accounts(spec):
        vpn = account.vpn_settings
        assert vpn is not None
        scope = f"azure:{account.name}"
        for item, given, key, field_name in (
                (f"VPN gateway {vpn.sku}", vpn.gateway_price_per_hour,
                 "azure_vpn_gateway_hour", "gateway_price_per_hour"),
                ("DNS Private Resolver inbound endpoint", vpn.resolver_endpoint_price_per_hour,
                 "azure_dns_resolver_inbound_endpoint_hour", "resolver_endpoint_price_per_hour")):
            if given is not None:
                price, source = given, f"spec: azure.accounts.{account.name}.vpn.{field_name}"
            else:
                price, source = from_catalog(key)
                if price is None:
                    source += f"; set azure.accounts[{account.name}].vpn.{field_name}"
            cost.lines.append(_line(scope, item, 1, price, source))
    return cost
