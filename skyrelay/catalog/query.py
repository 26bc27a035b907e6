"""The catalog as one object: what each cloud offers, where, until when, at what price.

Reading happens on first use (no network, no file access at import). The data ships as
package data; a folder written by ``skyrelay catalog refresh`` replaces it when named by the
``SKYRELAY_CATALOG_DIR`` environment variable (or passed to :func:`load_catalog`).

Example::

    >>> from skyrelay.catalog import load_catalog
    >>> cat = load_catalog()
    >>> cat.bedrock_placement("amazon.nova-pro-v1:0", "eu-central-1").status
    'profile_only'
    >>> cat.bedrock_placement("amazon.nova-pro-v1:0", "eu-central-1").profiles
    ('eu.amazon.nova-pro-v1:0',)
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from skyrelay import regions as _regions
from skyrelay.catalog.schema import (
    AzureModel,
    BedrockModel,
    BedrockProfile,
    CatalogDataError,
    read_azure,
    read_bedrock,
)

CATALOG_DIR_ENV = "SKYRELAY_CATALOG_DIR"
BEDROCK_FILE = "bedrock.yaml"
AZURE_FILE = "azure.yaml"

PlacementStatus = Literal["on_demand", "profile", "profile_only", "wrong_source",
                          "not_offered", "unknown_region", "unknown_model"]
OfferStatus = Literal["offered", "not_offered", "unknown"]


@dataclass(frozen=True)
class Placement:
    """How a Bedrock id may be called from a region, by the catalog.

    * ``on_demand`` - a foundation model callable in-region;
    * ``profile`` - a profile id whose sources include the region;
    * ``profile_only`` - an in-region id where only a profile works (``profiles`` lists them);
    * ``wrong_source`` - a profile id that cannot be called from the region;
    * ``not_offered`` - the model is known and not offered there (``profiles`` may help);
    * ``unknown_region`` / ``unknown_model`` - the catalog does not know (``closest`` ids).
    """

    status: PlacementStatus
    model: BedrockModel | None = None
    profile: BedrockProfile | None = None
    profiles: tuple[str, ...] = ()
    closest: tuple[str, ...] = ()
    offered_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalog:
    """Both clouds' catalogs; see the module docstring for an example."""

    bedrock_as_of: dt.date
    bedrock_models: dict[str, BedrockModel]
    profiles: dict[str, BedrockProfile]
    azure_as_of: dt.date
    azure_covered: frozenset[str]
    azure_models: dict[tuple[str, str], AzureModel]
    origin: str = "package data"

    @property
    def as_of(self) -> dt.date:
        """The catalog's "as of" date: the older of the two clouds' dates."""
        return min(self.bedrock_as_of, self.azure_as_of)

    # --- Bedrock ------------------------------------------------------------------

    def bedrock_model(self, model_id: str) -> BedrockModel | None:
        """The foundation model behind an id (profile prefixes are resolved)."""
        profile = self.profiles.get(model_id)
        return self.bedrock_models.get(profile.model if profile else model_id)

    def profiles_for(self, model: str, region: str) -> tuple[str, ...]:
        """Profile ids of ``model`` callable from ``region`` (geographic before global)."""
        found = [p for p in self.profiles.values() if p.model == model and region in p.sources]
        return tuple(p.id for p in sorted(found, key=lambda p: (p.destinations is None, p.id)))

    def closest_bedrock_ids(self, model_id: str, n: int = 3) -> tuple[str, ...]:
        """The known ids most like ``model_id`` (for "did you mean")."""
        known = [*self.bedrock_models, *self.profiles]
        return tuple(difflib.get_close_matches(model_id, known, n=n, cutoff=0.6))

    def bedrock_placement(self, model_id: str, region: str) -> Placement:
        """How ``model_id`` may be invoked from ``region``; see :class:`Placement`."""
        profile = self.profiles.get(model_id)
        if profile is not None:
            model = self.bedrock_models[profile.model]
            if region in profile.sources:
                return Placement("profile", model, profile)
            return Placement("wrong_source", model, profile, self.profiles_for(model.id, region),
                             offered_in=profile.sources)
        found = self.bedrock_models.get(model_id)
        if found is None:
            return Placement("unknown_model", closest=self.closest_bedrock_ids(model_id))
        model = found
        profiles = self.profiles_for(model.id, region)
        avail = model.availability.get(region)
        on_demand_in = tuple(sorted(r for r, a in model.availability.items() if a.on_demand))
        if avail is not None and avail.on_demand:
            return Placement("on_demand", model)
        if avail is not None or profiles:
            return Placement("profile_only" if profiles else "not_offered", model,
                             profiles=profiles, offered_in=on_demand_in)
        if model.availability:  # the model's regions are known, and this is not one of them
            return Placement("not_offered", model, offered_in=on_demand_in)
        return Placement("unknown_region", model)

    def bedrock_destinations(self, model_id: str, region: str) -> tuple[str, ...] | None:
        """Regions a call of ``model_id`` from ``region`` may run in, by the catalog.

        ``None`` means any region (a ``global.`` profile). An id the catalog does not know
        falls back to :func:`skyrelay.regions.geography_destinations` (the geography's set).
        """
        profile = self.profiles.get(model_id)
        if profile is None:
            return _regions.geography_destinations(model_id, region)
        if profile.destinations is None:
            return None
        return tuple(sorted({*profile.destinations, region}))

    # --- Azure --------------------------------------------------------------------

    def azure_model(self, name: str, version: str) -> AzureModel | None:
        """One model version, or None when the catalog does not know it."""
        return self.azure_models.get((name, version))

    def azure_versions(self, name: str) -> tuple[str, ...]:
        """The versions of a model the catalog knows."""
        return tuple(sorted(v for n, v in self.azure_models if n == name))

    def azure_offer(self, model: AzureModel, sku: str, location: str) -> OfferStatus:
        """Whether ``model`` is offered as ``sku`` in ``location`` (``unknown`` when the
        location or that SKU's table is not covered)."""
        offer = model.offers.get(sku)
        if location not in self.azure_covered or offer is None:
            return "unknown"
        return "offered" if location in offer.locations else "not_offered"

    def summary(self) -> dict[str, Any]:
        """Counts and dates for people and for the closing note."""
        return {"as_of": self.as_of.isoformat(), "origin": self.origin,
                "bedrock_models": len(self.bedrock_models),
                "bedrock_profiles": len(self.profiles),
                "azure_models": len(self.azure_models)}


# libyaml parses the catalog about seven times faster than the pure-Python loader, and every
# CLI run and synth reads it once.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _safe_load(text: str) -> Any:
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader, C or Python


def _read_yaml(path: Path | None, name: str) -> tuple[str, Any]:
    if path is not None:
        file = path / name
        try:
            return str(file), _safe_load(file.read_text())
        except OSError as exc:
            raise CatalogDataError(f"{file}: cannot read: {exc.strerror}") from None
    ref = resources.files("skyrelay.catalog").joinpath("data", name)
    return f"skyrelay/catalog/data/{name}", _safe_load(ref.read_text())


@functools.lru_cache(maxsize=8)
def _load(folder: str | None) -> Catalog:
    path = Path(folder) if folder else None
    aws_regions = frozenset(_regions.AWS_REGIONS)
    bfile, bdata = _read_yaml(path, BEDROCK_FILE)
    b_as_of, models, profiles = read_bedrock(bfile, bdata, aws_regions)
    afile, adata = _read_yaml(path, AZURE_FILE)
    a_as_of, covered, azure = read_azure(afile, adata, frozenset(_regions.AZURE_REGIONS))
    return Catalog(b_as_of, models, profiles, a_as_of, covered, azure,
                   origin=str(path) if path else "package data")


def load_catalog(folder: str | Path | None = None) -> Catalog:
    """The catalog from ``folder``, ``$SKYRELAY_CATALOG_DIR`` or the package data (cached)."""
    chosen = folder if folder is not None else os.environ.get(CATALOG_DIR_ENV) or None
    return _load(str(chosen) if chosen else None)
