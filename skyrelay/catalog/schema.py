"""The catalog's typed records and how they are read from the data files.

Every record carries the :class:`Fact` it came from (source key, URL and the date it was
checked); reading refuses a record without one, a source key that is not declared, or a
region that is not a real region, so a fact is never anonymous.

Example::

    >>> from skyrelay.catalog import load_catalog
    >>> cat = load_catalog()
    >>> cat.bedrock_model("amazon.nova-pro-v1:0").kind
    'chat'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Capability flags the gateway needs per target (None = not known to the catalog).
CAPABILITY_FLAGS = ("tool_use", "streaming_tool_use", "image_input", "document_input",
                    "structured_output", "system_prompt", "stop_sequences")


class CatalogDataError(ValueError):
    """A catalog data file is malformed: names the file, the record and what was expected."""


@dataclass(frozen=True)
class Source:
    """Where facts were read: a documentation page or an API."""

    key: str
    url: str
    note: str = ""


@dataclass(frozen=True)
class Fact:
    """The provenance of one fact: its source and the date it was checked."""

    source: Source
    checked: dt.date


@dataclass(frozen=True)
class Capabilities:
    """What a model can do; ``None`` means the catalog does not know."""

    fact: Fact | None = None
    tool_use: bool | None = None
    streaming_tool_use: bool | None = None
    image_input: bool | None = None
    document_input: bool | None = None
    structured_output: bool | None = None
    system_prompt: bool | None = None
    stop_sequences: bool | None = None
    max_output_tokens: int | None = None
    embedding_dimensions: tuple[int, ...] = ()
    #: Sources of further blocks, when the flags were read on more than one page.
    more_facts: tuple[Fact, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The flags that are known, JSON-ready (unknown ones are left out)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in CAPABILITY_FLAGS
                               if getattr(self, k) is not None}
        if self.max_output_tokens is not None:
            out["max_output_tokens"] = self.max_output_tokens
        if self.embedding_dimensions:
            out["embedding_dimensions"] = list(self.embedding_dimensions)
        return out


@dataclass(frozen=True)
class CatalogPrice:
    """A published default price per million tokens, with its source."""

    input_per_million: float
    output_per_million: float
    fact: Fact


@dataclass(frozen=True)
class RegionAvailability:
    """Whether a Bedrock foundation model may be invoked on demand in a region."""

    region: str
    on_demand: bool
    fact: Fact


@dataclass(frozen=True)
class BedrockModel:
    """A Bedrock foundation model: kind, per-region availability, capabilities, price."""

    id: str
    provider: str
    kind: str
    fact: Fact
    availability: Mapping[str, RegionAvailability] = field(default_factory=dict)
    capabilities: Capabilities = Capabilities()
    price: CatalogPrice | None = None


@dataclass(frozen=True)
class BedrockProfile:
    """A system-defined cross-region inference profile.

    ``destinations`` is ``None`` for a ``global.`` profile (any commercial region).
    """

    id: str
    model: str
    geography: str
    sources: tuple[str, ...]
    destinations: tuple[str, ...] | None
    fact: Fact
    destinations_confirmed: bool = True


@dataclass(frozen=True)
class AzureOffer:
    """A deployment type (SKU) of one model version offered in some locations."""

    sku: str
    locations: frozenset[str]
    fact: Fact


@dataclass(frozen=True)
class Lifecycle:
    """Lifecycle dates of an Azure model version.

    ``not_before`` marks a retirement the page gives only as "no earlier than" the date.
    """

    status: str
    fact: Fact
    deprecation: dt.date | None = None
    retirement: dt.date | None = None
    not_before: bool = False
    replacement: str | None = None

    def state(self, today: dt.date) -> str:
        """``retired``, ``deprecated`` or ``active`` on ``today``."""
        if self.retirement and not self.not_before and today >= self.retirement:
            return "retired"
        if self.deprecation and today >= self.deprecation:
            return "deprecated"
        return "active"


@dataclass(frozen=True)
class AzureModel:
    """One Azure OpenAI model version with its offers, lifecycle and capabilities."""

    name: str
    version: str
    kind: str
    fact: Fact
    offers: Mapping[str, AzureOffer] = field(default_factory=dict)
    lifecycle: Lifecycle | None = None
    capabilities: Capabilities = Capabilities()
    price: CatalogPrice | None = None


# --- reading ---------------------------------------------------------------------------


class _Reader:
    """Reads one data file's records, naming the file and record in every error."""

    def __init__(self, file: str, data: Mapping[str, Any], regions: frozenset[str]):
        self.file = file
        self.regions = regions
        raw_sources = data.get("sources")
        if not isinstance(raw_sources, dict) or not raw_sources:
            raise CatalogDataError(f"{file}: 'sources' must map source keys to {{url: ...}}")
        self.sources = {k: Source(k, str(v["url"]), str(v.get("note", "")).strip())
                        for k, v in raw_sources.items()}
        self.as_of = self.date(data.get("as_of"), "as_of")

    def fail(self, where: str, message: str) -> CatalogDataError:
        return CatalogDataError(f"{self.file}: {where}: {message}")

    def date(self, value: Any, where: str) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(where, f"expected a date YYYY-MM-DD, got {value!r}") from None

    def fact(self, rec: Mapping[str, Any], where: str) -> Fact:
        key = rec.get("source")
        if key not in self.sources:
            raise self.fail(where, f"source {key!r} is not declared under 'sources' "
                                   f"({', '.join(sorted(self.sources))})")
        if "checked" not in rec:
            raise self.fail(where, "every fact needs 'checked' (the date it was checked)")
        return Fact(self.sources[key], self.date(rec["checked"], f"{where}.checked"))

    def region_list(self, values: Any, where: str) -> tuple[str, ...]:
        if not isinstance(values, list) or not values:
            raise self.fail(where, "expected a non-empty list of regions")
        bad = [v for v in values if v not in self.regions]
        if bad:
            raise self.fail(where, f"not a known region: {', '.join(map(str, bad))}")
        return tuple(values)

    def capabilities(self, rec: Mapping[str, Any] | list[Any] | None,
                     where: str) -> Capabilities:
        """One block, or a list of blocks when the facts come from several sources."""
        if isinstance(rec, list):
            return self.capability_blocks(rec, where)
        if not rec:
            return Capabilities()
        known = {*CAPABILITY_FLAGS, "max_output_tokens", "embedding_dimensions",
                 "source", "checked"}
        extra = set(rec) - known
        if extra:
            raise self.fail(where, f"unknown capability {', '.join(sorted(extra))} "
                                   f"(known: {', '.join(sorted(known - {'source', 'checked'}))})")
        flags = {k: rec[k] for k in CAPABILITY_FLAGS if k in rec}
        for k, v in flags.items():
            if not isinstance(v, bool):
                raise self.fail(f"{where}.{k}", f"expected true or false, got {v!r}")
        return Capabilities(fact=self.fact(rec, where), **flags,
                            max_output_tokens=rec.get("max_output_tokens"),
                            embedding_dimensions=tuple(rec.get("embedding_dimensions") or ()))

    def capability_blocks(self, recs: list[Any], where: str) -> Capabilities:
        """Blocks merged in order; a flag two sources disagree on is an error."""
        merged: dict[str, Any] = {}
        facts: list[Fact] = []
        for i, rec in enumerate(recs):
            if not isinstance(rec, Mapping):
                raise self.fail(f"{where}[{i}]", "expected a mapping of capability flags")
            block = self.capabilities(rec, f"{where}[{i}]")
            assert block.fact is not None
            facts.append(block.fact)
            for key, value in block.as_dict().items():
                if key in merged and merged[key] != value:
                    raise self.fail(f"{where}[{i}].{key}",
                                    f"{value!r} contradicts {merged[key]!r} of an earlier block")
                merged[key] = value
        dims = tuple(merged.pop("embedding_dimensions", ()))
        return Capabilities(fact=facts[0] if facts else None, more_facts=tuple(facts[1:]),
                            **merged, embedding_dimensions=dims)

    def price(self, rec: Mapping[str, Any] | None, where: str) -> CatalogPrice | None:
        if not rec:
            return None
        return CatalogPrice(float(rec["input_per_million"]), float(rec["output_per_million"]),
                            self.fact(rec, where))


def read_bedrock(file: str, data: Mapping[str, Any], regions: frozenset[str]
                 ) -> tuple[dt.date, dict[str, BedrockModel], dict[str, BedrockProfile]]:
    """Parse ``bedrock.yaml`` content into models and profiles keyed by id."""
    r = _Reader(file, data, regions)
    models: dict[str, BedrockModel] = {}
    for i, rec in enumerate(data.get("models") or ()):
        where = f"models[{i}] ({rec.get('id')})"
        if rec.get("kind") not in ("chat", "embedding"):
            raise r.fail(where, "kind must be chat or embedding")
        avail: dict[str, RegionAvailability] = {}
        for j, block in enumerate(rec.get("availability") or ()):
            fact = r.fact(block, f"{where}.availability[{j}]")
            for region in r.region_list(block.get("regions"), f"{where}.availability[{j}]"):
                avail[region] = RegionAvailability(region, bool(block["on_demand"]), fact)
        if rec["id"] in models:
            raise r.fail(where, "duplicate model id")
        models[rec["id"]] = BedrockModel(
            id=rec["id"], provider=str(rec.get("provider", "")), kind=rec["kind"],
            fact=r.fact(rec, where), availability=avail,
            capabilities=r.capabilities(rec.get("capabilities"), f"{where}.capabilities"),
            price=r.price(rec.get("price"), f"{where}.price"))
    profiles: dict[str, BedrockProfile] = {}
    for i, rec in enumerate(data.get("profiles") or ()):
        where = f"profiles[{i}] ({rec.get('id')})"
        if rec.get("model") not in models:
            raise r.fail(where, f"model {rec.get('model')!r} is not under 'models'")
        dest = rec.get("destinations")
        profiles[rec["id"]] = BedrockProfile(
            id=rec["id"], model=rec["model"], geography=str(rec["geography"]),
            sources=r.region_list(rec.get("sources"), f"{where}.sources"),
            destinations=None if dest == "any" else r.region_list(dest, f"{where}.destinations"),
            fact=r.fact(rec, where),
            destinations_confirmed=bool(rec.get("destinations_confirmed", True)))
    return r.as_of, models, profiles


def read_azure(file: str, data: Mapping[str, Any], regions: frozenset[str]
               ) -> tuple[dt.date, frozenset[str], dict[tuple[str, str], AzureModel]]:
    """Parse ``azure.yaml`` content into model versions keyed by ``(name, version)``."""
    r = _Reader(file, data, regions)
    covered = frozenset(r.region_list(data.get("covered_locations"), "covered_locations"))
    models: dict[tuple[str, str], AzureModel] = {}
    for i, rec in enumerate(data.get("models") or ()):
        where = f"models[{i}] ({rec.get('name')} {rec.get('version')})"
        if rec.get("kind") not in ("chat", "embedding"):
            raise r.fail(where, "kind must be chat or embedding")
        offers: dict[str, AzureOffer] = {}
        for j, o in enumerate(rec.get("offers") or ()):
            w = f"{where}.offers[{j}]"
            locs = frozenset(r.region_list(o["locations"], w))
            fact = r.fact(o, w)
            if o["sku"] in offers:  # one block per source page: the same SKU, more locations
                prev = offers[o["sku"]]
                locs, fact = prev.locations | locs, prev.fact
            offers[o["sku"]] = AzureOffer(o["sku"], locs, fact)
        life = rec.get("lifecycle")
        lifecycle = None
        if life:
            w = f"{where}.lifecycle"
            lifecycle = Lifecycle(
                status=str(life["status"]), fact=r.fact(life, w),
                deprecation=r.date(life["deprecation"], w) if life.get("deprecation") else None,
                retirement=r.date(life["retirement"], w) if life.get("retirement") else None,
                not_before=bool(life.get("not_before", False)),
                replacement=life.get("replacement"))
        key = (str(rec["name"]), str(rec["version"]))
        if key in models:
            raise r.fail(where, "duplicate model version")
        models[key] = AzureModel(
            name=key[0], version=key[1], kind=rec["kind"], fact=r.fact(rec, where),
            offers=offers, lifecycle=lifecycle,
            capabilities=r.capabilities(rec.get("capabilities"), f"{where}.capabilities"),
            price=r.price(rec.get("price"), f"{where}.price"))
    return r.as_of, covered, models
