"""Residency rules the Azure program applies before it creates anything.

The spec's ``compliance.classifications`` say where each class of data may be processed.
``skyrelay validate`` proves that every tenant's routes can serve it somewhere, and two
rules about what the Azure program is asked to *build* (the program checks them again):

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
    """Every violation of the two rules above, as ``azure.accounts[i]...: message`` lines.

    The rules are the spec's own (:func:`skyrelay.spec.checks.residency_problems`), so
    ``skyrelay validate`` refuses such a spec before the program ever runs; the program
    checks again for callers that build a :class:`Spec` some other way.
    """
    from skyrelay.spec.checks import dotted_path
    from skyrelay.spec.checks import residency_problems as spec_residency

    return [f"{dotted_path(path)}: {message}" for path, message in spec_residency(spec)
            if path[0] == "azure"]
