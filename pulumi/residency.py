"""Residency rules the Azure program applies before it creates anything.

The spec's ``compliance.classifications`` say where each class of data may be processed.
``skyrelay validate`` already proves that every tenant's routes can serve it somewhere; the
Azure program adds two rules about what it is asked to *build*:

1. **Account location.** An account keeps data at rest (abuse-monitoring storage, stored
   completions, fine-tuning files) in its location, so the location must lie inside the
   region set of at least one classification. With only ``eu`` classifications, an account
   in ``eastus`` is refused; a classification allowing ``any`` allows every location.
2. **Deployment processing.** A deployment may process data where its SKU says
   (``Standard``: the account's region; ``DataZoneStandard``: the data zone;
   ``GlobalStandard``: anywhere). If no classification allows that whole set, no tenant's
   data may ever be sent to it: building it is a mistake (typically ``GlobalStandard`` in a
   spec whose rules are all EU-only), so it is refused too.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.pulumi.residency import allowed_azure_locations, residency_problems
    spec = load_spec("examples/platform.yaml")
    assert residency_problems(spec) == []
    print(allowed_azure_locations(spec))   # None: some classification allows any region
"""

from __future__ import annotations

from skyrelay import regions
from skyrelay.spec.models import Spec


def allowed_azure_locations(spec: Spec) -> frozenset[str] | None:
    """Azure regions inside at least one classification; ``None`` when any region is."""
    union: set[str] = set()
    for rule in spec.compliance.classifications.values():
        allowed = rule.allowed_set()
        if regions.ANY in allowed:
            return None
        union |= {m.split(":", 1)[1] for m in allowed if m.startswith("azure:")}
    return frozenset(union)


def residency_problems(spec: Spec) -> list[str]:
    """Every violation of the two rules above, as ``azure.accounts[i]...: message`` lines."""
    if not spec.azure:
        return []
    rules = {name: c.allowed_set() for name, c in spec.compliance.classifications.items()}
    summary = "; ".join(f"{n}: {', '.join(c.allowed)}"
                        for n, c in spec.compliance.classifications.items())
    locations = allowed_azure_locations(spec)
    problems = []
    for i, acct in enumerate(spec.azure.accounts):
        if locations is not None and acct.location not in locations:
            geo = regions.AZURE_REGIONS.get(acct.location, "?")
            problems.append(
                f"azure.accounts[{i}].location: {acct.location} ({geo}) is outside every "
                f"region the compliance classifications allow ({summary})")
        for j, dep in enumerate(acct.deployments):
            processing = regions.processing_regions_for_azure(dep.sku, acct.location)
            if not any(regions.satisfies(processing, allowed) for allowed in rules.values()):
                problems.append(
                    f"azure.accounts[{i}].deployments[{j}] ({dep.name}): a {dep.sku} deployment "
                    f"processes data in {regions.describe(processing)}, which no compliance "
                    f"classification allows ({summary})")
    return problems
