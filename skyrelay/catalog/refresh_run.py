"""One refresh: ask the clouds that have credentials, merge, check, and diff.

The merged data is read back through the same parser as the shipped data before anything
is shown or written, so a refresh can never write a catalog that does not load.

Example::

    result = run_refresh(load_catalog(), RefreshInputs(aws_regions=["us-east-1"], ...))
    print(result.added, result.removed)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from skyrelay import regions as _regions
from skyrelay.catalog.diff import catalog_diff
from skyrelay.catalog.query import AZURE_FILE, BEDROCK_FILE, Catalog
from skyrelay.catalog.refresh_aws import fetch_bedrock, merge_bedrock
from skyrelay.catalog.refresh_azure import MANAGEMENT_URL, fetch_azure, merge_azure
from skyrelay.catalog.schema import read_azure, read_bedrock


@dataclass
class RefreshInputs:
    """What to ask. ``ask_aws=False`` / no subscription skips a cloud; ``None`` regions
    mean the ones the catalog knows; the clients are injectable for tests."""

    aws_regions: list[str] | None
    azure_subscription: str | None
    azure_locations: list[str] | None = None
    today: dt.date = field(default_factory=dt.date.today)
    bedrock_client: Callable[[str], Any] | None = None
    azure_credential: Any = None
    azure_base_url: str = MANAGEMENT_URL
    ask_aws: bool = False


@dataclass
class RefreshResult:
    """The rebuilt data (as written to YAML), its difference and notes for people."""

    bedrock: dict[str, Any]
    azure: dict[str, Any]
    added: list[str]
    removed: list[str]
    notes: list[str]


def _raw(cat: Catalog, name: str) -> dict[str, Any]:
    if cat.origin != "package data":
        return yaml.safe_load((Path(cat.origin) / name).read_text())
    text = resources.files("skyrelay.catalog").joinpath("data", name).read_text()
    return yaml.safe_load(text)


def _default_bedrock_regions(cat: Catalog) -> list[str]:
    known = {r for m in cat.bedrock_models.values() for r in m.availability}
    known |= {r for p in cat.profiles.values() for r in p.sources}
    return sorted(r for r in known if not r.startswith("us-gov-"))


def _botocore_clients() -> Callable[[str], Any]:
    import botocore.session

    session = botocore.session.get_session()
    return lambda region: session.create_client("bedrock", region_name=region)


def run_refresh(cat: Catalog, inputs: RefreshInputs) -> RefreshResult:
    """Fetch, merge and diff; raises nothing for a refusing region (it becomes a note)."""
    old_b, old_a = _raw(cat, BEDROCK_FILE), _raw(cat, AZURE_FILE)
    new_b, new_a, notes = old_b, old_a, []
    if inputs.ask_aws:
        regions = inputs.aws_regions or _default_bedrock_regions(cat)
        snap = fetch_bedrock(inputs.bedrock_client or _botocore_clients(), regions)
        notes += [f"Bedrock {r} refused ({why}): its facts are kept"
                  for r, why in sorted(snap.refused.items())]
        if snap.answered:
            new_b = merge_bedrock(old_b, snap, inputs.today)
        notes.append(f"Bedrock: {len(snap.answered)} of {len(regions)} regions answered")
    else:
        notes.append("Bedrock skipped: no AWS credentials")
    if inputs.azure_subscription:
        if inputs.azure_credential is None:
            from azure.identity import DefaultAzureCredential

            # No managed-identity probe: it would reach for the instance metadata endpoint.
            credential = DefaultAzureCredential(exclude_managed_identity_credential=True)
        else:
            credential = inputs.azure_credential
        locations = inputs.azure_locations or sorted(cat.azure_covered)
        asnap = fetch_azure(credential, inputs.azure_subscription, locations,
                            base_url=inputs.azure_base_url)
        notes += [f"Azure {loc} refused ({why}): its facts are kept"
                  for loc, why in sorted(asnap.refused.items())]
        if asnap.answered:
            new_a = merge_azure(old_a, asnap, inputs.today)
        notes.append(f"Azure: {len(asnap.answered)} of {len(locations)} locations answered")
    else:
        notes.append("Azure skipped: no subscription")
    # Read back through the shipped parser: a merge that does not load is never written.
    read_bedrock("refreshed bedrock.yaml", new_b, frozenset(_regions.AWS_REGIONS))
    read_azure("refreshed azure.yaml", new_a, frozenset(_regions.AZURE_REGIONS))
    added, removed = catalog_diff(old_b, old_a, new_b, new_a)
    return RefreshResult(new_b, new_a, added, removed, notes)
