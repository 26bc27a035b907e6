"""The residency matrix: for every tenant and every route target, may the gateway send that
tenant's requests there, and which rule decides.

The answers come from the gateway itself: the spec's derived gateway config
(:func:`skyrelay.views.gateway_config.gateway_config`, the whole routing table) is loaded as
the gateway loads it (:class:`skyrelay.gateway.config.GatewayConfig`) and asked through its
own :class:`skyrelay.gateway.router.access.AccessPolicy`: the tenant's classification
(``classification_for``), the routes it may call (``routes_for``) and each route's eligible
targets for that classification (``eligible``). Nothing here re-states the rule.

A cell is one of:

* ``allowed``: a route of the tenant names the target and the target's processing set lies
  inside what the tenant's classification allows;
* ``refused``: a route of the tenant names it, but the residency rule excludes it (the
  gateway never tries it; a route with no eligible target answers 403);
* ``not-routed``: none of the tenant's routes names the target (the gateway answers any other
  route with 404, as if it did not exist).

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.residency import residency_matrix
    m = residency_matrix(load_spec("examples/platform.yaml"))
    assert m.cell("eu-support", "azure:acme-openai-swc/gpt-4o").state == "allowed"
"""

from __future__ import annotations

from dataclasses import dataclass

from skyrelay import regions
from skyrelay.spec.models import Spec
from skyrelay.views.gateway_config import gateway_config

ALLOWED, REFUSED, NOT_ROUTED = "allowed", "refused", "not-routed"


@dataclass(frozen=True)
class Cell:
    """One tenant x target answer: its state, the routes concerned and the deciding rule."""

    tenant: str
    target: str
    state: str
    routes: tuple[str, ...]
    rule: str

    @property
    def allowed(self) -> bool:
        """True when the gateway may send this tenant's requests to this target."""
        return self.state == ALLOWED


@dataclass(frozen=True)
class ResidencyMatrix:
    """Rows are tenants (spec order), columns route targets (first use in the routes)."""

    tenants: tuple[str, ...]
    classifications: dict[str, str]
    targets: tuple[str, ...]
    processing: dict[str, str]
    cells: dict[tuple[str, str], Cell]

    def cell(self, tenant: str, target: str) -> Cell:
        """The answer for one tenant and one target key."""
        return self.cells[(tenant, target)]

    def row(self, tenant: str) -> list[Cell]:
        """A tenant's cells, in column order."""
        return [self.cells[(tenant, t)] for t in self.targets]


def residency_matrix(spec: Spec) -> ResidencyMatrix:
    """Ask the gateway's access policy about every tenant and route target of ``spec``.

    Needs the gateway's modules (``skyrelay[gateway]``: its error type serializes with
    orjson); the caller turns a missing one into the one-line "needs the extra" message.
    """
    from skyrelay.gateway.config import GatewayConfig
    from skyrelay.gateway.errors import GatewayError
    from skyrelay.gateway.router.access import AccessPolicy

    config = GatewayConfig.from_dict(gateway_config(spec))
    policy = AccessPolicy(config)
    keys = tuple(dict.fromkeys(t.key for r in config.routes.values() for t in r.targets))
    cells: dict[tuple[str, str], Cell] = {}
    for tenant in config.tenants.values():
        cls = policy.classification_for(tenant, None)
        where = ", ".join(cls.allowed)
        eligible: dict[str, set[str]] = {}  # target -> the tenant's routes naming it
        named: dict[str, list[str]] = {}
        for route in policy.routes_for(tenant):
            try:
                ok = {t.key for t in policy.eligible(route, cls).targets}
            except GatewayError:  # no target of the route qualifies: the gateway's 403
                ok = set()
            for rt in route.targets:
                named.setdefault(rt.key, []).append(route.name)
                if rt.key in ok:
                    eligible.setdefault(rt.key, set()).add(route.name)
        for key in keys:
            target = config.targets[key]
            places = regions.describe(target.processing)
            routes = tuple(dict.fromkeys(named.get(key, ())))
            if not routes:
                cell = Cell(tenant.name, key, NOT_ROUTED, (),
                            f"none of {tenant.name}'s routes names this target")
            elif key in eligible:
                cell = Cell(tenant.name, key, ALLOWED, routes,
                            f"classification '{cls.name}' allows {where}; the target "
                            f"processes in {places}")
            else:
                cell = Cell(tenant.name, key, REFUSED, routes,
                            f"classification '{cls.name}' allows processing only in {where}; "
                            f"the target may process in {places}")
            cells[(tenant.name, key)] = cell
    return ResidencyMatrix(
        tenants=tuple(config.tenants),
        classifications={n: t.classification for n, t in config.tenants.items()},
        targets=keys,
        processing={k: regions.describe(config.targets[k].processing) for k in keys},
        cells=cells)
