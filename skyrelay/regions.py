"""Region catalogues for both clouds and where a model deployment may process data.

Residency is judged on where data *may be processed*, not where the endpoint lives
(DESIGN.md): a Bedrock ``global.`` inference profile or an Azure ``GlobalStandard``
deployment may process anywhere; a ``us.``/``eu.`` profile or a ``DataZoneStandard``
deployment anywhere in its geography; an in-region model only in its region.

Geographies are legal jurisdictions, not marketing groupings: ``eu`` holds only regions in
EU member states, so London (``eu-west-2``, ``uksouth``) is ``uk`` and Zurich is ``ch``.

Example::

    >>> processing_regions_for_bedrock("eu.anthropic.claude-sonnet-4-v1:0", "eu-central-1")
    ... # doctest: +ELLIPSIS
    frozenset({'aws:eu-central-1', ...})
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

#: Sentinel member of a processing set that means "any region of any cloud".
ANY: Final = "*"

#: AWS commercial and GovCloud regions -> geography.
AWS_REGIONS: Final[dict[str, str]] = {
    "us-east-1": "us", "us-east-2": "us", "us-west-1": "us", "us-west-2": "us",
    "us-gov-east-1": "us", "us-gov-west-1": "us",
    "ca-central-1": "ca", "ca-west-1": "ca",
    "mx-central-1": "mx",
    "sa-east-1": "br",
    "eu-central-1": "eu", "eu-west-1": "eu", "eu-west-3": "eu", "eu-north-1": "eu",
    "eu-south-1": "eu", "eu-south-2": "eu",
    "eu-west-2": "uk", "eu-central-2": "ch",
    "il-central-1": "il", "me-central-1": "ae", "me-south-1": "bh", "af-south-1": "za",
    "ap-northeast-1": "jp", "ap-northeast-3": "jp", "ap-northeast-2": "kr",
    "ap-southeast-1": "sg", "ap-southeast-2": "au", "ap-southeast-4": "au",
    "ap-southeast-3": "id", "ap-southeast-5": "my", "ap-southeast-7": "th",
    "ap-south-1": "in", "ap-south-2": "in", "ap-east-1": "hk", "ap-east-2": "tw",
}

#: Azure public-cloud regions -> geography.
AZURE_REGIONS: Final[dict[str, str]] = {
    "eastus": "us", "eastus2": "us", "westus": "us", "westus2": "us", "westus3": "us",
    "centralus": "us", "northcentralus": "us", "southcentralus": "us", "westcentralus": "us",
    "canadacentral": "ca", "canadaeast": "ca", "brazilsouth": "br", "mexicocentral": "mx",
    "swedencentral": "eu", "westeurope": "eu", "northeurope": "eu", "francecentral": "eu",
    "germanywestcentral": "eu", "italynorth": "eu", "polandcentral": "eu", "spaincentral": "eu",
    "uksouth": "uk", "ukwest": "uk", "switzerlandnorth": "ch", "switzerlandwest": "ch",
    "norwayeast": "no", "uaenorth": "ae", "qatarcentral": "qa", "israelcentral": "il",
    "southafricanorth": "za", "japaneast": "jp", "japanwest": "jp", "koreacentral": "kr",
    "australiaeast": "au", "australiasoutheast": "au", "southeastasia": "sg", "eastasia": "hk",
    "centralindia": "in", "southindia": "in", "westindia": "in",
}

#: Geography codes a compliance rule may name, with a human description.
GEOGRAPHIES: Final[dict[str, str]] = {
    "us": "United States", "ca": "Canada", "mx": "Mexico", "br": "Brazil",
    "eu": "European Union member states", "uk": "United Kingdom", "ch": "Switzerland",
    "no": "Norway", "il": "Israel", "ae": "United Arab Emirates", "bh": "Bahrain",
    "qa": "Qatar", "za": "South Africa", "jp": "Japan", "kr": "South Korea",
    "sg": "Singapore", "au": "Australia", "id": "Indonesia", "my": "Malaysia", "th": "Thailand",
    "in": "India", "hk": "Hong Kong", "tw": "Taiwan",
}

#: Where a Bedrock system-defined cross-region inference profile may route, by id prefix:
#: only the fallback for profile ids the model catalog does not know (the catalog holds
#: each known profile's own list). A model entry in the spec may narrow it with
#: ``destination_regions``.
BEDROCK_PROFILE_DESTINATIONS: Final[dict[str, tuple[str, ...]]] = {
    "us": ("us-east-1", "us-east-2", "us-west-1", "us-west-2"),
    "us-gov": ("us-gov-east-1", "us-gov-west-1"),
    "eu": ("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2"),
    "apac": (
        "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
        "ap-southeast-1", "ap-southeast-2", "ap-southeast-4",
    ),
    "jp": ("ap-northeast-1", "ap-northeast-3"),
    "au": ("ap-southeast-2", "ap-southeast-4"),
    "ca": ("ca-central-1", "ca-west-1"),
}

#: The prefix of a global profile: it may route to any commercial region.
BEDROCK_GLOBAL_PREFIX: Final = "global"

#: Azure data zones for DataZone deployment types, by the account location's geography.
AZURE_DATA_ZONES: Final[dict[str, str]] = {"us": "us", "eu": "eu"}

AZURE_SKUS: Final = ("Standard", "GlobalStandard", "DataZoneStandard", "ProvisionedManaged")

def profile_prefix(model_id: str) -> str | None:
    """The cross-region inference profile prefix of a Bedrock model id, or None.

    ``"us.anthropic.claude-3-5-haiku-20241022-v1:0"`` -> ``"us"``; a plain foundation-model
    id such as ``"openai.gpt-oss-120b-1:0"`` -> ``None``.
    """
    head, _, rest = model_id.partition(".")
    if not rest:
        return None
    if head == BEDROCK_GLOBAL_PREFIX or head in BEDROCK_PROFILE_DESTINATIONS:
        return head
    return None


def foundation_model_id(model_id: str) -> str:
    """Strip a cross-region profile prefix: the id of the underlying foundation model."""
    prefix = profile_prefix(model_id)
    return model_id[len(prefix) + 1 :] if prefix else model_id


def regions_of_geography(geo: str) -> frozenset[str]:
    """All regions of both clouds in a geography, as ``cloud:region`` members."""
    aws = {f"aws:{r}" for r, g in AWS_REGIONS.items() if g == geo}
    azure = {f"azure:{r}" for r, g in AZURE_REGIONS.items() if g == geo}
    return frozenset(aws | azure)


def geography_destinations(model_id: str, region: str) -> tuple[str, ...] | None:
    """Where a profile id *may* route judged by its prefix alone (the geography's regions).

    Only for ids the model catalog does not know; :func:`bedrock_destinations` prefers the
    catalog's list for the profile.
    """
    prefix = profile_prefix(model_id)
    if prefix == BEDROCK_GLOBAL_PREFIX:
        return None
    regions = set(BEDROCK_PROFILE_DESTINATIONS[prefix]) if prefix else set()
    regions.add(region)
    return tuple(sorted(regions))


def bedrock_destinations(
    model_id: str, region: str, destination_regions: Iterable[str] | None = None
) -> tuple[str, ...] | None:
    """AWS regions a Bedrock model id invoked from ``region`` may run in.

    ``None`` means any region (a ``global.`` profile). An explicit ``destination_regions``
    wins; then the model catalog's destination list for the profile
    (:mod:`skyrelay.catalog`); an id the catalog does not know falls back to its prefix's
    geography. The source region is always included.
    """
    if destination_regions:
        if profile_prefix(model_id) == BEDROCK_GLOBAL_PREFIX:
            return None
        return tuple(sorted({*destination_regions, region}))
    from skyrelay.catalog import load_catalog  # the catalog reads this module's tables

    return load_catalog().bedrock_destinations(model_id, region)


def processing_regions_for_bedrock(
    model_id: str, region: str, destination_regions: Iterable[str] | None = None
) -> frozenset[str]:
    """Processing set of a Bedrock model: ``{ANY}`` for global profiles, else AWS regions."""
    dest = bedrock_destinations(model_id, region, destination_regions)
    if dest is None:
        return frozenset({ANY})
    return frozenset(f"aws:{r}" for r in dest)


def processing_regions_for_azure(sku: str, location: str) -> frozenset[str]:
    """Processing set of an Azure OpenAI deployment of a given SKU in an account location."""
    if sku.startswith("Global"):
        return frozenset({ANY})
    if sku.startswith("DataZone"):
        zone = AZURE_DATA_ZONES.get(AZURE_REGIONS.get(location, ""))
        if zone is None:  # validation rejects this earlier; stay safe anyway
            return frozenset({ANY})
        return regions_of_geography(zone)
    return frozenset({f"azure:{location}"})


def expand_allowed(entries: Iterable[str]) -> frozenset[str]:
    """Expand a compliance rule's allowed list (regions, geographies, ``any``) to a set."""
    out: set[str] = set()
    for entry in entries:
        if entry == "any":
            out.add(ANY)
        elif entry in GEOGRAPHIES:
            out |= regions_of_geography(entry)
        elif entry in AWS_REGIONS:
            out.add(f"aws:{entry}")
        elif entry in AZURE_REGIONS:
            out.add(f"azure:{entry}")
        else:
            raise ValueError(f"unknown region or geography {entry!r}")
    return frozenset(out)


def satisfies(processing: frozenset[str], allowed: frozenset[str]) -> bool:
    """True when every place ``processing`` may touch is inside ``allowed``."""
    if ANY in allowed:
        return True
    if ANY in processing:
        return False
    return processing <= allowed


def describe(processing: frozenset[str]) -> str:
    """Short human text for a processing set: ``any region`` or geographies/regions."""
    if ANY in processing:
        return "any region"
    geos: dict[str, list[str]] = {}
    for member in sorted(processing):
        cloud, _, region = member.partition(":")
        table = AWS_REGIONS if cloud == "aws" else AZURE_REGIONS
        geos.setdefault(table.get(region, "?"), []).append(region)
    parts = []
    for geo, names in sorted(geos.items()):
        listed = ", ".join(names) if len(names) <= 2 else f"{len(names)} regions"
        parts.append(f"{geo} ({listed})")
    return "; ".join(parts)
