"""Rebuild the Bedrock half of the catalog from the live APIs.

Per region, ``ListFoundationModels`` says which models exist there and whether they take
on-demand calls (``inferenceTypesSupported``); ``ListInferenceProfiles`` (system-defined,
paged by ``nextToken``) gives every profile callable from the region with its destination
foundation-model ARNs. A region that refuses (``AccessDeniedException``, a region not
enabled) keeps its previous facts and is reported.

Example::

    import botocore.session
    session = botocore.session.get_session()
    snap = fetch_bedrock(lambda r: session.create_client("bedrock", region_name=r),
                         ["us-east-1", "eu-central-1"])
    data = merge_bedrock(old_data, snap, today)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

API_SOURCE = "api-bedrock"
API_SOURCE_ENTRY = {
    "url": "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_ListFoundationModels.html",
    "note": "ListFoundationModels and ListInferenceProfiles (SYSTEM_DEFINED) per region, "
            "read by skyrelay catalog refresh",
}


@dataclass
class BedrockSnapshot:
    """What the API said: per region, model id -> on demand; profiles with their regions."""

    answered: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    on_demand: dict[str, dict[str, bool]] = field(default_factory=dict)  # model -> region -> bool
    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)  # model -> (kind, provider)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)


def _kind(summary: dict[str, Any]) -> str:
    return "embedding" if "EMBEDDING" in summary.get("outputModalities", []) else "chat"


def _known(regions: Iterable[str]) -> list[str]:
    """Only regions skyrelay knows (a region newer than skyrelay.regions is left out)."""
    from skyrelay.regions import AWS_REGIONS

    return sorted(r for r in regions if r in AWS_REGIONS)


def _arn_region(arn: str) -> str:
    # arn:aws:bedrock:<region>::foundation-model/<id>
    return arn.split(":")[3]


def _arn_model(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def fetch_bedrock(client_for: Callable[[str], Any], regions: Iterable[str]) -> BedrockSnapshot:
    """Ask every region; ``client_for(region)`` returns a botocore ``bedrock`` client."""
    from botocore.exceptions import ClientError

    snap = BedrockSnapshot()
    for region in regions:
        client = client_for(region)
        try:
            models = client.list_foundation_models()["modelSummaries"]
            profiles: list[dict[str, Any]] = []
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"typeEquals": "SYSTEM_DEFINED"}
                if token:
                    kwargs["nextToken"] = token
                page = client.list_inference_profiles(**kwargs)
                profiles.extend(page.get("inferenceProfileSummaries", []))
                token = page.get("nextToken")
                if not token:
                    break
        except ClientError as exc:
            err = exc.response.get("Error", {})
            snap.refused[region] = f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip()
            continue
        snap.answered.append(region)
        for m in models:
            mid = m["modelId"]
            snap.kinds.setdefault(mid, (_kind(m), m.get("providerName", "")))
            snap.on_demand.setdefault(mid, {})[region] = (
                "ON_DEMAND" in m.get("inferenceTypesSupported", []))
        for p in profiles:
            arns = [x["modelArn"] for x in p.get("models", [])]
            if not arns:
                continue
            rec = snap.profiles.setdefault(p["inferenceProfileId"], {
                "model": _arn_model(arns[0]), "sources": set(), "destinations": set()})
            rec["sources"].add(region)
            rec["destinations"].update(_arn_region(a) for a in arns)
    return snap


def _fact(today: dt.date) -> dict[str, Any]:
    return {"source": API_SOURCE, "checked": today.isoformat()}


def merge_bedrock(old: dict[str, Any], snap: BedrockSnapshot, today: dt.date) -> dict[str, Any]:
    """New ``bedrock.yaml`` data: the answered regions' facts replaced by the API's, the
    rest (capabilities, prices, regions that did not answer) kept."""
    answered = set(snap.answered)
    sources = {**old.get("sources", {}), API_SOURCE: API_SOURCE_ENTRY}
    models: dict[str, dict[str, Any]] = {m["id"]: dict(m) for m in old.get("models", [])}
    for mid, (kind, provider) in snap.kinds.items():
        models.setdefault(mid, {"id": mid, "provider": provider, "kind": kind, **_fact(today)})
    for mid, rec in models.items():
        kept = []
        for block in rec.get("availability", []):
            rest = [r for r in block["regions"] if r not in answered]
            if rest:
                kept.append({**block, "regions": rest})
        api = snap.on_demand.get(mid, {})
        for flag in (True, False):
            regs = _known(r for r, v in api.items() if v is flag)
            if regs:
                kept.append({"on_demand": flag, "regions": regs, **_fact(today)})
        if kept:
            rec["availability"] = kept
        else:
            rec.pop("availability", None)
    profiles: dict[str, dict[str, Any]] = {}
    for p in old.get("profiles", []):
        if not set(p["sources"]) <= answered:  # some source region did not answer: keep
            profiles[p["id"]] = dict(p)
    for pid, rec in snap.profiles.items():
        if rec["model"] not in models:
            models[rec["model"]] = {"id": rec["model"], "provider": "", "kind": "chat",
                                    **_fact(today)}
        prefix = pid.split(".", 1)[0]
        if not _known(rec["sources"]) or not _known(rec["destinations"]):
            continue
        profiles[pid] = {
            "id": pid, "model": rec["model"], "geography": prefix,
            "sources": _known(rec["sources"]),
            "destinations": "any" if prefix == "global" else _known(rec["destinations"]),
            **_fact(today)}
    return {"as_of": today.isoformat(), "sources": sources,
            "models": [models[k] for k in sorted(models)],
            "profiles": [profiles[k] for k in sorted(profiles)]}
