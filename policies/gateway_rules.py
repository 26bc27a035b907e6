"""The residency rules over the gateway config (``skyrelay.views.gateway_config``).

The gateway enforces residency per request (it skips targets outside the tenant's
classification); these rules make sure that every tenant route still has a target it may use,
and list the targets a tenant can never use.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.gateway_config import gateway_config
    from skyrelay.policies.gateway_rules import check_gateway_config
    errors = check_gateway_config(gateway_config(load_spec("examples/platform.yaml")))
"""

from __future__ import annotations

from typing import Any

from skyrelay import regions
from skyrelay.policies.rules import Violation


def check_gateway_config(cfg: dict[str, Any]) -> list[Violation]:
    """SKY-GW-001 (no eligible target on a tenant route) and SKY-GW-002 (ineligible targets)."""
    out: list[Violation] = []
    classes = cfg.get("classifications") or {}
    targets = cfg.get("targets") or {}
    for tname, tenant in (cfg.get("tenants") or {}).items():
        cls = tenant.get("classification")
        if cls not in classes:
            out.append(Violation("SKY-GW-001", f"tenant {tname}",
                                 f"classification {cls!r} is not defined"))
            continue
        allowed = frozenset(classes[cls].get("processing_allowed") or [])
        for rname in tenant.get("routes") or []:
            route = (cfg.get("routes") or {}).get(rname) or {}
            keys = [t["key"] for t in route.get("targets") or []]
            bad = [k for k in keys if k not in targets or not regions.satisfies(
                frozenset(targets[k].get("processing") or [regions.ANY]), allowed)]
            where = f"tenant {tname} / route {rname}"
            if len(bad) == len(keys):
                out.append(Violation("SKY-GW-001", where,
                                     f"no target may process {cls!r} data "
                                     f"({', '.join(keys) or 'no targets'})"))
            elif bad:
                out.append(Violation("SKY-GW-002", where,
                                     f"targets skipped for {cls!r} data: {', '.join(bad)}"))
    return out
