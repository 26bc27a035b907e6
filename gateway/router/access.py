"""Residency and access: which routes a tenant may call and which targets may serve it.

A request's classification is its tenant's, or a narrower one named by the
``x-skyrelay-classification`` header: narrower means every place the requested
classification allows is also allowed by the tenant's (``regions.satisfies`` on the two
``processing_allowed`` sets, ``*`` meaning anywhere). A wider one is refused (403).

A target is eligible only when its ``processing`` set satisfies the classification's
``processing_allowed`` set. Everything here is computed once from the config into lookup
tables, so the request path does two dict lookups; no header, route name or target name can
add a target to the eligible list.

Example::

    policy = AccessPolicy(config)
    cls = policy.classification_for(tenant, header_value)   # GatewayError 403 when wider
    targets = policy.eligible(route, cls)                     # GatewayError 403 when none
"""

from __future__ import annotations

from dataclasses import dataclass

from skyrelay import regions
from skyrelay.gateway.config import (
    ClassificationConfig,
    GatewayConfig,
    RouteConfig,
    TargetConfig,
    TenantConfig,
)
from skyrelay.gateway.errors import GatewayError

CLASSIFICATION_HEADER = "x-skyrelay-classification"


@dataclass(frozen=True, slots=True)
class Eligible:
    """The targets of a route a classification may use, in the spec's order, with weights."""

    targets: tuple[TargetConfig, ...]
    weights: tuple[int, ...]


def _describe_rule(cls: ClassificationConfig) -> str:
    return f"classification '{cls.name}' allows processing only in {', '.join(cls.allowed)}"


class AccessPolicy:
    """Precomputed access tables for one :class:`GatewayConfig`."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self._routes_of: dict[str, frozenset[str]] = {
            name: frozenset(t.routes) for name, t in config.tenants.items()}
        # classification a tenant may narrow to: (tenant class, requested class) -> ok
        self._narrower: dict[tuple[str, str], bool] = {
            (a, b): regions.satisfies(cb.processing_allowed, ca.processing_allowed)
            for a, ca in config.classifications.items()
            for b, cb in config.classifications.items()
        }
        self._eligible: dict[tuple[str, str], Eligible] = {}
        for route in config.routes.values():
            for cname, cls in config.classifications.items():
                chosen = [(config.targets[rt.key], rt.weight) for rt in route.targets
                          if rt.key in config.targets
                          and regions.satisfies(config.targets[rt.key].processing,
                                                cls.processing_allowed)]
                self._eligible[(route.name, cname)] = Eligible(
                    tuple(t for t, _ in chosen), tuple(w for _, w in chosen))

    def route_for(self, tenant: TenantConfig, model: str, kind: str) -> RouteConfig:
        """The route named ``model`` if the tenant may use it for ``kind`` requests, else 404.

        A route the tenant may not use answers exactly like one that does not exist, so
        route names do not leak across tenants.
        """
        route = self.config.routes.get(model)
        if route is None or model not in self._routes_of.get(tenant.name, ()):
            raise GatewayError.model_not_found(model)
        if route.kind != kind:
            what = "a chat" if kind == "chat" else "an embedding"
            raise GatewayError(404, f"The model `{model}` is not {what} model.",
                               param="model", code="model_not_supported")
        return route

    def classification_for(self, tenant: TenantConfig,
                           requested: str | None) -> ClassificationConfig:
        """The request's classification: the tenant's, or a narrower one it asked for."""
        own = tenant.classification
        own_cls = self.config.classifications.get(own)
        if own_cls is None:  # the spec validator prevents this; refuse rather than guess
            raise GatewayError(403, f"Tenant classification '{own}' is not defined; "
                                    "no target may serve it.", code="classification_unknown")
        if requested is None or requested == own:
            return own_cls
        cls = self.config.classifications.get(requested)
        if cls is None:
            raise GatewayError.bad_request(
                f"Unknown classification '{requested[:100]}' in the {CLASSIFICATION_HEADER} "
                f"header; defined: {', '.join(sorted(self.config.classifications))}.",
                param=CLASSIFICATION_HEADER, code="classification_unknown")
        if not self._narrower.get((own, requested), False):
            raise GatewayError(
                403, f"Classification '{requested}' is wider than the tenant's "
                     f"'{own}' ({_describe_rule(own_cls)}); a "
                     "request may only narrow its classification.",
                code="classification_not_allowed")
        return cls

    def eligible(self, route: RouteConfig, cls: ClassificationConfig) -> Eligible:
        """Targets of ``route`` whose processing satisfies ``cls``; 403 naming the rule if none."""
        found = self._eligible.get((route.name, cls.name))
        if not found or not found.targets:
            raise GatewayError(
                403, f"No target of route '{route.name}' satisfies the residency rule: "
                     f"{_describe_rule(cls)}.", code="residency_violation")
        return found

    def routes_for(self, tenant: TenantConfig) -> list[RouteConfig]:
        """The routes a tenant may call, in the tenant's order (``/v1/models``)."""
        return [self.config.routes[name] for name in tenant.routes
                if name in self.config.routes]
