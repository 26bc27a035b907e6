"""``skyrelay catalog``: list what the model catalog knows; ``refresh`` rebuilds it.

Example::

    skyrelay catalog --cloud aws --region eu-central-1
    skyrelay catalog --json | jq .azure.models[0]
    skyrelay catalog refresh --out .skyrelay/catalog --dry-run
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from skyrelay.catalog.query import AZURE_FILE, BEDROCK_FILE, CATALOG_DIR_ENV, Catalog, load_catalog
from skyrelay.catalog.schema import Fact

console = Console()
if not console.is_terminal:
    console.width = 160


def _fact(f: Fact | None) -> dict[str, str] | None:
    return {"source": f.source.url, "checked": f.checked.isoformat()} if f else None


def catalog_document(cat: Catalog, cloud: str | None, region: str | None) -> dict[str, Any]:
    """The catalog (optionally one cloud / one region) as JSON-ready data, with sources."""
    doc: dict[str, Any] = {**cat.summary()}
    if cloud in (None, "aws"):
        models = []
        for m in sorted(cat.bedrock_models.values(), key=lambda m: m.id):
            avail = {r: a.on_demand for r, a in sorted(m.availability.items())
                     if region in (None, r)}
            profs = [p for p in cat.profiles.values() if p.model == m.id
                     and (region is None or region in p.sources)]
            if region and not avail and not profs:
                continue
            models.append({
                "id": m.id, "provider": m.provider, "kind": m.kind, **(_fact(m.fact) or {}),
                "on_demand": avail, "profiles": sorted(p.id for p in profs),
                "capabilities": m.capabilities.as_dict(),
                "price": ({"input_per_million": m.price.input_per_million,
                           "output_per_million": m.price.output_per_million,
                           **(_fact(m.price.fact) or {})} if m.price else None)})
        profiles = [{"id": p.id, "model": p.model, "sources": list(p.sources),
                     "destinations": list(p.destinations) if p.destinations else "any",
                     "destinations_confirmed": p.destinations_confirmed, **(_fact(p.fact) or {})}
                    for p in sorted(cat.profiles.values(), key=lambda p: p.id)
                    if region is None or region in p.sources]
        doc["bedrock"] = {"as_of": cat.bedrock_as_of.isoformat(), "models": models,
                          "profiles": profiles}
    if cloud in (None, "azure"):
        azure = []
        for a in sorted(cat.azure_models.values(), key=lambda a: (a.name, a.version)):
            offers = {sku: sorted(o.locations) for sku, o in sorted(a.offers.items())
                      if region is None or region in o.locations}
            if region and not offers:
                continue
            life = a.lifecycle
            azure.append({
                "name": a.name, "version": a.version, "kind": a.kind, **(_fact(a.fact) or {}),
                "offers": offers,
                "lifecycle": ({"status": life.status,
                               "deprecation": life.deprecation and life.deprecation.isoformat(),
                               "retirement": life.retirement and life.retirement.isoformat(),
                               "retirement_not_before": life.not_before,
                               "replacement": life.replacement, **(_fact(life.fact) or {})}
                              if life else None)})
        doc["azure"] = {"as_of": cat.azure_as_of.isoformat(),
                        "covered_locations": sorted(cat.azure_covered), "models": azure}
    return doc


def _render(doc: dict[str, Any], region: str | None) -> None:
    console.print(f"[bold]model catalog as of {doc['as_of']}[/] ({doc['origin']}): "
                  f"{doc['bedrock_models']} Bedrock models, {doc['bedrock_profiles']} "
                  f"inference profiles, {doc['azure_models']} Azure model versions",
                  highlight=False)
    if "bedrock" in doc:
        t = Table(title=f"Amazon Bedrock{f' in {region}' if region else ''}")
        for col in ("model id", "kind", "on demand in", "not on demand in", "profiles",
                    "capabilities", "price in/out per 1M"):
            t.add_column(col, overflow="fold")
        for m in doc["bedrock"]["models"]:
            price = m["price"]
            t.add_row(m["id"], m["kind"],
                      ", ".join(r for r, v in m["on_demand"].items() if v) or "-",
                      ", ".join(r for r, v in m["on_demand"].items() if not v) or "-",
                      ", ".join(m["profiles"]) or "-",
                      ", ".join(k for k, v in m["capabilities"].items() if v is True) or "?",
                      f"{price['input_per_million']} / {price['output_per_million']}"
                      if price else "-")
        console.print(t)
    if "azure" in doc:
        t = Table(title=f"Azure OpenAI{f' in {region}' if region else ''}")
        for col in ("model", "version", "kind", "deployment types", "deprecated", "retires"):
            t.add_column(col, overflow="fold")
        for m in doc["azure"]["models"]:
            life = m["lifecycle"] or {}
            retires = life.get("retirement") or "-"
            if life.get("retirement_not_before"):
                retires = f"not before {retires}"
            t.add_row(m["name"], m["version"], m["kind"],
                      "; ".join(f"{s}: {', '.join(locs)}" for s, locs in m["offers"].items())
                      or "?", life.get("deprecation") or "-", retires)
        console.print(t)
    console.print("[dim]every fact names its source and check date: skyrelay catalog --json; "
                  "`?` = not known to the catalog[/]", highlight=False)


@click.group(invoke_without_command=True)
@click.option("--cloud", type=click.Choice(["aws", "azure"]), help="Only one cloud.")
@click.option("--region", help="Only what is offered in this AWS region or Azure location.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output with sources.")
@click.pass_context
def catalog(ctx: click.Context, cloud: str | None, region: str | None, as_json: bool) -> None:
    """What each cloud offers, where, until when, and what each model can do."""
    if ctx.invoked_subcommand is not None:
        return
    if region and not cloud:  # a region names its cloud
        from skyrelay.regions import AWS_REGIONS, AZURE_REGIONS

        cloud = "aws" if region in AWS_REGIONS else "azure" if region in AZURE_REGIONS else None
        if cloud is None:
            raise click.BadParameter(f"{region!r} is neither an AWS region nor an Azure "
                                     "location", param_hint="--region")
    doc = catalog_document(load_catalog(), cloud, region)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        _render(doc, region)


def _aws_ready() -> str | None:
    """Why Bedrock cannot be asked (None when AWS credentials exist)."""
    import botocore.session

    return None if botocore.session.get_session().get_credentials() else "no AWS credentials"


@catalog.command("refresh")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help=f"Folder for the rebuilt data (default: ${CATALOG_DIR_ENV} or "
                   ".skyrelay/catalog); point ${CATALOG_DIR_ENV} at it to use it.")
@click.option("--aws-region", "aws_regions", multiple=True,
              help="AWS region to ask (repeat; default: the regions the catalog knows).")
@click.option("--azure-location", "azure_locations", multiple=True,
              help="Azure location to ask (repeat; default: the catalog's covered ones).")
@click.option("--azure-subscription", envvar="AZURE_SUBSCRIPTION_ID",
              help="Subscription for the Models - List API (env AZURE_SUBSCRIPTION_ID).")
@click.option("--dry-run", is_flag=True, help="Show the difference, write nothing.")
@click.option("--yes", is_flag=True, help="Write without asking.")
def refresh(out_dir: str | None, aws_regions: tuple[str, ...], azure_locations: tuple[str, ...],
            azure_subscription: str | None, dry_run: bool, yes: bool) -> None:
    """Rebuild the catalog from the live APIs, show the difference, then write it."""
    from skyrelay.catalog.refresh_run import RefreshInputs, run_refresh

    cat = load_catalog()
    aws_missing = _aws_ready()
    azure_missing = None if azure_subscription else "no Azure subscription (AZURE_SUBSCRIPTION_ID)"
    if aws_missing and azure_missing:
        click.echo(f"skyrelay catalog refresh: {aws_missing} and {azure_missing}; nothing "
                   f"refreshed, the catalog stays as of {cat.as_of}", err=True)
        sys.exit(1)
    target = Path(out_dir or os.environ.get(CATALOG_DIR_ENV) or ".skyrelay/catalog")
    inputs = RefreshInputs(
        aws_regions=list(aws_regions) or None, ask_aws=aws_missing is None,
        azure_subscription=None if azure_missing else azure_subscription,
        azure_locations=list(azure_locations) or None, today=dt.date.today())
    result = run_refresh(cat, inputs)
    for note in result.notes:
        click.echo(f"note: {note}")
    if not result.added and not result.removed:
        click.echo("no difference: the live APIs agree with the catalog")
        return
    for line in result.added:
        click.echo(f"+ {line}")
    for line in result.removed:
        click.echo(f"- {line}")
    if dry_run or not (yes or click.confirm(f"write the rebuilt catalog to {target}?")):
        click.echo("nothing written")
        return
    target.mkdir(parents=True, exist_ok=True)
    (target / BEDROCK_FILE).write_text(yaml.safe_dump(result.bedrock, sort_keys=False))
    (target / AZURE_FILE).write_text(yaml.safe_dump(result.azure, sort_keys=False))
    click.echo(f"wrote {target}; use it with {CATALOG_DIR_ENV}={target}")
