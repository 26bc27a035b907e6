"""Rebuild the Azure half of the catalog from the Models - List REST API.

``GET {management}/subscriptions/{id}/providers/Microsoft.CognitiveServices/locations/
{location}/models?api-version=2024-10-01`` lists, per location, every model version an
account there may deploy with its deployment types (``model.skus[].name``), lifecycle
status and the date inference stops (``model.deprecation.inference``); pages continue at
``nextLink`` (https://learn.microsoft.com/rest/api/aiservices/accountmanagement/models/list).
The bearer token comes from an azure-identity credential for the management scope.

Example::

    from azure.identity import DefaultAzureCredential
    snap = fetch_azure(DefaultAzureCredential(), "00000000-...", ["swedencentral"])
    data = merge_azure(old_data, snap, today)
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

MANAGEMENT_URL = "https://management.azure.com"
MANAGEMENT_SCOPE = "https://management.azure.com/.default"
API_VERSION = "2024-10-01"
API_SOURCE = "api-azure-models-list"
API_SOURCE_ENTRY = {
    "url": "https://learn.microsoft.com/rest/api/aiservices/accountmanagement/models/list",
    "note": "Models - List per location (api-version 2024-10-01), read by skyrelay catalog refresh",
}
#: Deployment types the catalog judges (the names Models - List uses for model.skus[].name).
SKUS = ("Standard", "GlobalStandard", "DataZoneStandard", "ProvisionedManaged",
        "GlobalProvisionedManaged", "DataZoneProvisionedManaged")
MAX_PAGES = 50


class TokenCredential(Protocol):
    """What azure-identity credentials offer: ``get_token(scope).token``."""

    def get_token(self, *scopes: str) -> Any: ...


@dataclass
class AzureSnapshot:
    """Per model version: kind, offered SKUs per location, and the retirement the API gives."""

    answered: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    models: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def _get(url: str, token: str, timeout: float) -> dict[str, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}",
                                               "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - https or loopback
        return json.loads(resp.read(16 * 1024 * 1024))


def _kind(model: dict[str, Any]) -> str:
    caps = model.get("capabilities") or {}
    return "embedding" if str(caps.get("embeddings", "")).lower() == "true" else "chat"


def fetch_azure(credential: TokenCredential, subscription: str, locations: Iterable[str], *,
                base_url: str = MANAGEMENT_URL, timeout: float = 30.0) -> AzureSnapshot:
    """Ask every location; a location that refuses (403, 404) is reported, not fatal."""
    token = credential.get_token(MANAGEMENT_SCOPE).token
    snap = AzureSnapshot()
    for loc in locations:
        url: str | None = (
            f"{base_url.rstrip('/')}/subscriptions/{urllib.parse.quote(subscription)}/providers/"
            f"Microsoft.CognitiveServices/locations/{urllib.parse.quote(loc)}/models"
            f"?api-version={API_VERSION}")
        entries: list[dict[str, Any]] = []
        try:
            for _ in range(MAX_PAGES):
                if url is None:
                    break
                page = _get(url, token, timeout)
                entries.extend(page.get("value", []))
                url = page.get("nextLink")
        except urllib.error.HTTPError as exc:
            try:
                err = json.loads(exc.read()).get("error", {})
            except ValueError:
                err = {}
            snap.refused[loc] = f"HTTP {exc.code} {err.get('code', '')}".strip()
            continue
        snap.answered.append(loc)
        for e in entries:
            m = e.get("model") or {}
            if m.get("format") != "OpenAI" or not m.get("name") or not m.get("version"):
                continue
            rec = snap.models.setdefault((m["name"], str(m["version"])), {
                "kind": _kind(m), "offers": {}, "retirement": None,
                "status": m.get("lifecycleStatus", "")})
            for sku in m.get("skus") or ():
                if sku.get("name") in SKUS:
                    rec["offers"].setdefault(sku["name"], set()).add(loc)
            inference_end = (m.get("deprecation") or {}).get("inference")
            if inference_end:
                rec["retirement"] = str(inference_end)[:10]
    return snap


def _fact(today: dt.date) -> dict[str, Any]:
    return {"source": API_SOURCE, "checked": today.isoformat()}


def merge_azure(old: dict[str, Any], snap: AzureSnapshot, today: dt.date) -> dict[str, Any]:
    """New ``azure.yaml`` data: the answered locations' offers replaced by the API's;
    deprecation dates (not in the API) and capabilities kept from the old data."""
    from skyrelay.regions import AZURE_REGIONS

    answered = {loc for loc in snap.answered if loc in AZURE_REGIONS}
    models = {(m["name"], str(m["version"])): dict(m) for m in old.get("models", [])}
    for (name, version), rec in snap.models.items():
        models.setdefault((name, version), {"name": name, "version": version,
                                            "kind": rec["kind"], **_fact(today)})
    for key, rec in models.items():
        offers: dict[str, dict[str, Any]] = {}
        for o in rec.get("offers", []):
            rest = [loc for loc in o["locations"] if loc not in answered]
            if rest:
                offers[o["sku"]] = {**o, "locations": rest}
        api = snap.models.get(key, {"offers": {}, "retirement": None})
        for sku, locs in api["offers"].items():
            mine = sorted({*offers.get(sku, {}).get("locations", []),
                           *(loc for loc in locs if loc in answered)})
            if mine:
                offers[sku] = {"sku": sku, "locations": mine, **_fact(today)}
        if offers:
            rec["offers"] = [offers[s] for s in sorted(offers)]
        else:
            rec.pop("offers", None)
        if api["retirement"]:
            life = dict(rec.get("lifecycle") or {"status": api.get("status") or "GA"})
            life.update({"retirement": api["retirement"], "not_before": False, **_fact(today)})
            rec["lifecycle"] = life
    covered = sorted({*old.get("covered_locations", []), *answered})
    return {"as_of": today.isoformat(), "covered_locations": covered,
            "sources": {**old.get("sources", {}), API_SOURCE: API_SOURCE_ENTRY},
            "models": [models[k] for k in sorted(models)]}
