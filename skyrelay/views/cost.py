"""Monthly cost estimate for a traffic profile, from the spec's prices.

How a route's traffic spreads over its targets follows its strategy: ``priority`` sends it
all to the first target, ``weighted`` by weight, ``lowest-cost`` to the cheapest target for
the profile's token mix, ``lowest-latency`` evenly (latency is only known at run time).
Provisioned capacity adds ``hourly_per_unit x capacity x 730`` hours per month.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.cost import TrafficProfile, estimate_monthly_cost
    est = estimate_monthly_cost(load_spec("examples/platform.yaml"), TrafficProfile())
    print(est.total)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from skyrelay.spec.models import Price, Route, Spec
from skyrelay.spec.resolve import target_index

HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class RouteTraffic:
    """Traffic on one route: requests per month and mean tokens per request."""

    requests_per_month: int = 100_000
    input_tokens: int = 1_500
    output_tokens: int = 400


@dataclass(frozen=True)
class TrafficProfile:
    """A default per-route traffic shape, with optional overrides by route name."""

    default: RouteTraffic = RouteTraffic()
    routes: dict[str, RouteTraffic] = field(default_factory=dict)

    def for_route(self, name: str) -> RouteTraffic:
        """The traffic for one route."""
        return self.routes.get(name, self.default)


@dataclass(frozen=True)
class RouteCost:
    """Estimated monthly cost of one route, split by target key."""

    route: str
    by_target: dict[str, float]

    @property
    def total(self) -> float:
        """Sum over targets."""
        return sum(self.by_target.values())


@dataclass(frozen=True)
class CostEstimate:
    """The whole estimate: token costs per route, fixed costs per deployment."""

    currency: str
    routes: list[RouteCost]
    fixed: dict[str, float]

    @property
    def total(self) -> float:
        """Token costs plus fixed costs."""
        return sum(r.total for r in self.routes) + sum(self.fixed.values())


def request_cost(price: Price, input_tokens: int, output_tokens: int) -> float:
    """Cost of one request with the given token counts."""
    return (input_tokens * price.input_per_million
            + output_tokens * price.output_per_million) / 1_000_000


def _shares(route: Route, unit_cost: dict[str, float]) -> dict[str, float]:
    keys = [t.key for t in route.targets]
    if route.strategy == "priority":
        return {keys[0]: 1.0}
    if route.strategy == "weighted":
        total = sum(t.weight for t in route.targets)
        return {t.key: t.weight / total for t in route.targets if t.weight}
    if route.strategy == "lowest-cost":
        cheapest = min(keys, key=lambda k: (unit_cost[k], keys.index(k)))
        return {cheapest: 1.0}
    return {k: 1.0 / len(keys) for k in keys}


def estimate_monthly_cost(spec: Spec, traffic: TrafficProfile) -> CostEstimate:
    """Estimate a month of the given traffic on the spec's routes."""
    index = target_index(spec)
    routes = []
    for route in spec.routes:
        t = traffic.for_route(route.name)
        unit = {tg.key: request_cost(index[tg.key].price, t.input_tokens, t.output_tokens)
                for tg in route.targets}
        by_target = {k: round(share * t.requests_per_month * unit[k], 2)
                     for k, share in _shares(route, unit).items()}
        routes.append(RouteCost(route.name, by_target))
    fixed: dict[str, float] = {}
    if spec.azure:
        for acct in spec.azure.accounts:
            for d in acct.deployments:
                if d.price and d.price.hourly_per_unit:
                    fixed[f"azure:{acct.name}/{d.name}"] = round(
                        d.price.hourly_per_unit * d.capacity * HOURS_PER_MONTH, 2)
    # The private VPN paths (gateway_path: private-vpn): only the lines whose price is known
    # (skyrelay.views.vpn_cost; the plan lists the others as missing).
    from skyrelay.views.vpn_cost import private_path_costs

    vpn = private_path_costs(spec)
    for scope in dict.fromkeys(line.scope for line in vpn.lines if line.monthly is not None):
        fixed[f"private-vpn:{scope}"] = vpn.total(scope)
    return CostEstimate(spec.currency, routes, fixed)
