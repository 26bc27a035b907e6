"""Checks of a spec against the model catalog: placements, deployment types, lifecycle, prices.

Each check yields ``(path, message)`` pairs like :mod:`skyrelay.spec.checks`, split into
errors (cannot work) and warnings (works today, or the catalog does not know). Something the
catalog does not know is a warning naming ``skyrelay catalog refresh`` - new models appear
every month - unless the spec sets ``strict_catalog: true``.

Example::

    import datetime as dt
    from skyrelay.spec.catalog_checks import catalog_problems
    errors, warnings = catalog_problems(spec, dt.date(2026, 12, 1))
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from skyrelay.catalog import Catalog, load_catalog
from skyrelay.catalog.schema import AzureModel
from skyrelay.spec.models import AzureAccount, AzureDeployment, BedrockModel, Spec

Path = tuple[str | int, ...]
#: (path, message, is_error)
Finding = tuple[Path, str, bool]

REFRESH_HINT = ("new models appear every month: run `skyrelay catalog refresh`, or set "
                "strict_catalog: true to make this an error")
STRICT_HINT = "strict_catalog is true: run `skyrelay catalog refresh` if it is new"


def _unknown(spec: Spec, text: str) -> tuple[str, bool]:
    """A finding about something the catalog does not know: warning, or error when strict."""
    return (f"{text}; {STRICT_HINT}" if spec.strict_catalog else f"{text}; {REFRESH_HINT}",
            spec.strict_catalog)


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _ids_in_region(cat: Catalog, region: str, like: str) -> list[str]:
    """Ids callable from ``region`` (on demand or by profile), closest to ``like`` first."""
    import difflib

    ids = [m.id for m in cat.bedrock_models.values()
           if (a := m.availability.get(region)) is not None and a.on_demand]
    ids += [p.id for p in cat.profiles.values() if region in p.sources]
    return difflib.get_close_matches(like, ids, n=3, cutoff=0.4)


def _bedrock_model(spec: Spec, cat: Catalog, region: str, i: int,
                   m: BedrockModel) -> Iterator[Finding]:
    at: Path = ("aws", "regions", region, "bedrock_models", i)
    p = cat.bedrock_placement(m.model_id, region)
    asof = f"catalog as of {cat.bedrock_as_of}"
    mid = m.model_id
    if p.status == "profile_only":
        alt = "" if len(p.profiles) < 2 else f" (or {', '.join(p.profiles[1:])})"
        yield ((*at, "model_id"),
               f"{mid} is offered in {region} only through a cross-region inference profile: "
               f"calls fail with \"on-demand throughput isn't supported\"; use model_id: "
               f"{p.profiles[0]}{alt}", True)
    elif p.status == "wrong_source":
        fix = f"; from {region} use {p.profiles[0]}" if p.profiles else ""
        yield ((*at, "model_id"),
               f"inference profile {mid} cannot be called from {region} (its source regions: "
               f"{', '.join(p.offered_in)}){fix}", True)
    elif p.status == "not_offered":
        near = _ids_in_region(cat, region, mid)
        elsewhere = sorted({r for pr in cat.profiles.values() if pr.model == mid
                            for r in pr.sources})
        where = (f"on demand in: {', '.join(p.offered_in)}" if p.offered_in
                 else f"through a profile from: {', '.join(elsewhere)}" if elsewhere
                 else "no on-demand region")
        hint = f"; closest ids offered in {region}: {', '.join(near)}" if near else ""
        yield ((*at, "model_id"),
               f"{mid} is not offered in {region} ({asof}; {where}){hint}", True)
    elif p.status == "unknown_model":
        closest = f"; closest known ids: {', '.join(p.closest)}" if p.closest else ""
        msg, err = _unknown(spec, f"{mid} is not in the model catalog (as of "
                                  f"{cat.bedrock_as_of}){closest}")
        yield (*at, "model_id"), msg, err
    elif p.status == "unknown_region":
        msg, err = _unknown(spec, f"the {asof} does not know whether {mid} is "
                                  f"offered in {region}")
        yield (*at, "model_id"), msg, err
    model = p.model
    if model is not None and model.kind != m.kind:
        yield ((*at, "kind"), f"{mid} is {_a(model.kind)} model by the catalog; set kind: "
                              f"{model.kind}", True)
    if m.price is None and (model is None or model.price is None):
        yield ((*at, "price"),
               f"no price given and the catalog has no published price for {mid}; give "
               "price: {input_per_million: ..., output_per_million: ...}", True)


def _offer(cat: Catalog, known: AzureModel, acct: AzureAccount, dep: AzureDeployment,
           at: Path, spec: Spec) -> Iterator[Finding]:
    status = cat.azure_offer(known, dep.sku, acct.location)
    what = f"{dep.model} {dep.version}"
    if status == "not_offered":
        here = sorted(s for s, o in known.offers.items() if acct.location in o.locations)
        there = sorted(known.offers[dep.sku].locations)
        elsewhere = (f"in {acct.location} it is offered as: {', '.join(here)}" if here else
                     f"in {acct.location} the catalog has it in no deployment type")
        yield ((*at, "sku"),
               f"{what} is not offered as {dep.sku} in {acct.location} (catalog as of "
               f"{cat.azure_as_of}); {elsewhere}; as {dep.sku} it is offered in: "
               f"{', '.join(there)}", True)
    elif status == "unknown":
        msg, err = _unknown(spec, f"the catalog (as of {cat.azure_as_of}) does not know "
                                  f"whether {what} is offered as {dep.sku} in {acct.location}")
        yield (*at, "sku"), msg, err


def _lifecycle(known: AzureModel, dep: AzureDeployment, at: Path,
               today: dt.date) -> Iterator[Finding]:
    life = known.lifecycle
    if life is None:
        return
    what = f"{dep.model} {dep.version}"
    repl = f" (replacement: {life.replacement})" if life.replacement else ""
    state = life.state(today)
    if state == "retired":
        yield ((*at, "version"),
               f"{what} was retired on {life.retirement}: deployments of a retired version "
               f"return errors{repl}", True)
        return
    if state == "deprecated":
        until = (f"; it retires on {life.retirement}" if life.retirement and not life.not_before
                 else "")
        yield ((*at, "version"),
               f"{what} is deprecated since {life.deprecation} (no new customers may deploy "
               f"it){until}{repl}", False)
    if dep.version_upgrade == "NoAutoUpgrade" and life.retirement and not life.not_before:
        yield ((*at, "version_upgrade"),
               f"NoAutoUpgrade pins {what}, which retires on {life.retirement}: the deployment "
               "stops working then; use OnceCurrentVersionExpired (or "
               "OnceNewDefaultVersionAvailable), or plan the move before that date", False)


def _azure_deployment(spec: Spec, cat: Catalog, i: int, acct: AzureAccount, j: int,
                      dep: AzureDeployment, today: dt.date) -> Iterator[Finding]:
    at: Path = ("azure", "accounts", i, "deployments", j)
    known = cat.azure_model(dep.model, dep.version)
    if known is None:
        versions = cat.azure_versions(dep.model)
        text = (f"{dep.model} version {dep.version} is not in the model catalog (as of "
                f"{cat.azure_as_of}; known versions: {', '.join(versions)})" if versions else
                f"model {dep.model!r} is not in the model catalog (as of {cat.azure_as_of})")
        msg, err = _unknown(spec, text)
        yield (*at, "version" if versions else "model"), msg, err
    else:
        yield from _offer(cat, known, acct, dep, at, spec)
        yield from _lifecycle(known, dep, at, today)
        if known.kind != dep.kind:
            yield ((*at, "kind"), f"{dep.model} is {_a(known.kind)} model by the catalog; set "
                                  f"kind: {known.kind}", True)
    if dep.price is None and (known is None or known.price is None):
        yield ((*at, "price"),
               f"no price given and the catalog has no published price for {dep.model} "
               f"{dep.version}; give price: {{input_per_million: ..., output_per_million: ...}}",
               True)


def catalog_findings(spec: Spec, today: dt.date | None = None,
                     catalog: Catalog | None = None) -> list[Finding]:
    """Every catalog finding of ``spec`` on ``today`` (default: the current date)."""
    cat = catalog or load_catalog()
    day = today or dt.date.today()
    out: list[Finding] = []
    if spec.aws:
        for region, cfg in spec.aws.regions.items():
            for i, m in enumerate(cfg.bedrock_models):
                out.extend(_bedrock_model(spec, cat, region, i, m))
    if spec.azure:
        for i, acct in enumerate(spec.azure.accounts):
            for j, dep in enumerate(acct.deployments):
                out.extend(_azure_deployment(spec, cat, i, acct, j, dep, day))
    return out


def catalog_problems(spec: Spec, today: dt.date | None = None
                     ) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """``(errors, warnings)`` of ``spec`` against the catalog."""
    found = catalog_findings(spec, today)
    return ([(p, m) for p, m, e in found if e], [(p, m) for p, m, e in found if not e])
