"""Invariants of the shipped catalog data, and the reader's refusal of anonymous facts."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

import pytest
import yaml

from skyrelay import regions
from skyrelay.catalog import CatalogDataError, load_catalog
from skyrelay.catalog.schema import read_bedrock

CAT = load_catalog()


def _raw(name: str) -> dict[str, Any]:
    return yaml.safe_load(resources.files("skyrelay.catalog").joinpath("data", name).read_text())


def _facts(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every record that states a fact: anything carrying regions, locations, flags, dates."""
    out = []
    if isinstance(node, dict):
        if {"id", "name", "regions", "locations", "retirement", "input_per_million",
                "sources", "tool_use", "image_input", "system_prompt", "structured_output",
                "embedding_dimensions"} & set(node):
            out.append((path, node))
        for k, v in node.items():
            if k != "sources" or isinstance(v, list):
                out += _facts(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _facts(v, f"{path}[{i}]")
    return out


@pytest.mark.parametrize("name", ["bedrock.yaml", "azure.yaml"])
def test_every_fact_has_a_source_and_a_date(name: str) -> None:
    data = _raw(name)
    as_of = dt.date.fromisoformat(str(data["as_of"]))
    facts = _facts({k: v for k, v in data.items() if k != "sources"})
    assert len(facts) > 20
    for path, rec in facts:
        assert rec.get("source") in data["sources"], f"{name}{path}: no declared source"
        checked = dt.date.fromisoformat(str(rec["checked"]))
        assert checked <= as_of, f"{name}{path}: checked after the catalog's as-of date"
    for key, src in data["sources"].items():
        assert src["url"].startswith("https://"), f"{name}: source {key} has no https URL"


def test_every_profile_routes_to_real_regions_of_its_geography() -> None:
    assert CAT.profiles
    for p in CAT.profiles.values():
        assert p.id == f"{p.geography}.{p.model}"
        assert p.model in CAT.bedrock_models
        assert set(p.sources) <= set(regions.AWS_REGIONS)
        if p.destinations is None:
            assert p.geography == "global"
            continue
        assert set(p.destinations) <= set(regions.AWS_REGIONS)
        # A geographic profile stays in its geography (the "us" profiles in the US, ...).
        geos = {regions.AWS_REGIONS[r] for r in p.destinations}
        expected = {"us": {"us"}, "eu": {"eu"}, "apac": {"jp", "kr", "in", "sg", "au"}}
        assert geos <= expected[p.geography], p.id


def test_no_retired_version_is_a_default_or_a_replacement() -> None:
    # Retired on the catalog's date: no published default price, never named as the
    # replacement of another version, and not what the shipped default spec deploys.
    retired = {(m.name, m.version) for m in CAT.azure_models.values()
               if m.lifecycle and m.lifecycle.state(CAT.as_of) == "retired"}
    assert ("gpt-4o", "2024-11-20") in retired
    for m in CAT.azure_models.values():
        if (m.name, m.version) in retired:
            assert m.price is None
        if m.lifecycle and m.lifecycle.replacement:
            versions = CAT.azure_versions(m.lifecycle.replacement)
            assert versions, f"{m.name} {m.version}: replacement unknown to the catalog"
    from pathlib import Path

    from skyrelay.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[3] / "examples" / "platform.yaml",
                     today=CAT.as_of)
    assert spec.azure is not None
    deployed = {(d.model, d.version) for a in spec.azure.accounts for d in a.deployments}
    assert not deployed & retired


def test_lifecycle_states() -> None:
    m = CAT.azure_model("gpt-4o", "2024-11-20")
    assert m is not None and m.lifecycle is not None
    assert m.lifecycle.state(dt.date(2025, 11, 19)) == "active"
    assert m.lifecycle.state(dt.date(2025, 11, 20)) == "deprecated"
    assert m.lifecycle.state(dt.date(2026, 9, 30)) == "deprecated"
    assert m.lifecycle.state(dt.date(2026, 10, 1)) == "retired"
    # "No earlier than" is not a retirement date: never reported as retired.
    emb = CAT.azure_model("text-embedding-3-large", "1")
    assert emb is not None and emb.lifecycle is not None and emb.lifecycle.not_before
    assert emb.lifecycle.state(dt.date(2030, 1, 1)) == "active"


def test_the_reader_refuses_a_fact_without_source_or_date() -> None:
    data = _raw("bedrock.yaml")
    data["models"][0] = {k: v for k, v in data["models"][0].items() if k != "source"}
    with pytest.raises(CatalogDataError, match=r"bedrock\.yaml: models\[0\] \(amazon\.nova-pro-"
                                              r"v1:0\): source None is not declared"):
        read_bedrock("bedrock.yaml", data, frozenset(regions.AWS_REGIONS))
    data = _raw("bedrock.yaml")
    del data["profiles"][0]["checked"]
    with pytest.raises(CatalogDataError, match="every fact needs 'checked'"):
        read_bedrock("bedrock.yaml", data, frozenset(regions.AWS_REGIONS))
    data = _raw("bedrock.yaml")
    data["profiles"][0]["destinations"] = ["us-east-9"]
    with pytest.raises(CatalogDataError, match="not a known region: us-east-9"):
        read_bedrock("bedrock.yaml", data, frozenset(regions.AWS_REGIONS))


def test_capability_blocks_from_two_sources_merge_and_keep_both_sources() -> None:
    """Sonnet 4.5's image input is Anthropic's fact, its structured output Bedrock's page:
    each flag keeps the page it was read on, and the gateway sees both flags."""
    caps = CAT.bedrock_models["anthropic.claude-sonnet-4-5-20250929-v1:0"].capabilities
    assert caps.image_input is True and caps.structured_output is True
    assert caps.fact is not None and caps.fact.source.key == "anthropic-models-overview"
    assert [f.source.key for f in caps.more_facts] == ["aws-claude-structured-outputs"]
    # The page names Sonnet 4.5, Haiku 4.5, Opus 4.5 and 4.6 only: Claude Sonnet 4 stays unknown.
    assert CAT.bedrock_models["anthropic.claude-sonnet-4-20250514-v1:0"].capabilities \
        .structured_output is None


def test_capability_blocks_that_contradict_each_other_are_refused() -> None:
    data = _raw("bedrock.yaml")
    index = next(i for i, m in enumerate(data["models"])
                 if m["id"] == "anthropic.claude-haiku-4-5-20251001-v1:0")
    data["models"][index]["capabilities"].append(
        {"structured_output": False, "source": "aws-converse-features", "checked": "2026-12-01"})
    with pytest.raises(CatalogDataError, match=r"capabilities\[2\]\.structured_output: False "
                                              r"contradicts True"):
        read_bedrock("bedrock.yaml", data, frozenset(regions.AWS_REGIONS))


def test_catalog_counts_and_date() -> None:
    s = CAT.summary()
    assert s["as_of"] == "2026-12-01"
    assert s["bedrock_models"] == len(_raw("bedrock.yaml")["models"])
    assert s["bedrock_profiles"] == len(_raw("bedrock.yaml")["profiles"])
    assert s["azure_models"] == len(_raw("azure.yaml")["models"])


def test_destinations_come_from_the_catalog_not_the_prefix() -> None:
    # The "us" prefix table also holds us-west-1; the Claude Sonnet 4 profile does not go there.
    mid = "us.anthropic.claude-sonnet-4-20250514-v1:0"
    assert "us-west-1" in regions.geography_destinations(mid, "us-east-1")  # type: ignore[operator]
    assert regions.bedrock_destinations(mid, "us-east-1") == ("us-east-1", "us-east-2",
                                                              "us-west-2")
    assert regions.processing_regions_for_bedrock(mid, "us-east-1") == frozenset(
        {"aws:us-east-1", "aws:us-east-2", "aws:us-west-2"})
    # An explicit spec list still wins; an unknown id falls back to the geography.
    assert regions.bedrock_destinations(mid, "us-east-1", ["us-east-2"]) == ("us-east-1",
                                                                             "us-east-2")
    assert "us-west-1" in (regions.bedrock_destinations("us.meta.llama9-v1:0", "us-east-1")
                           or ())
