"""Where data may be processed (``skyrelay.regions``): the sets residency is judged on.

A processing set that is too small (a profile missing a destination, a DataZone deployment
taken for in-region) lets a compliance rule pass that the cloud will break; one that is too
big refuses a legal target. The properties check ``satisfies`` against plain set logic.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skyrelay import aws_zones, regions

ANY = regions.ANY


def test_profile_prefix_and_foundation_model_id() -> None:
    assert regions.profile_prefix("us.anthropic.claude-3-5-haiku-20241022-v1:0") == "us"
    assert regions.profile_prefix("global.anthropic.claude-sonnet-4-v1:0") == "global"
    assert regions.profile_prefix("us-gov.anthropic.claude-v1:0") == "us-gov"
    assert regions.profile_prefix("openai.gpt-oss-120b-1:0") is None
    assert regions.profile_prefix("nodot") is None
    assert regions.profile_prefix("us.") is None  # nothing after the prefix
    assert regions.foundation_model_id("eu.meta.llama3-v1:0") == "meta.llama3-v1:0"
    assert regions.foundation_model_id("global.a.b-v1:0") == "a.b-v1:0"
    assert regions.foundation_model_id("amazon.titan-v1:0") == "amazon.titan-v1:0"


def test_bedrock_destinations() -> None:
    assert regions.bedrock_destinations("global.a.b-v1:0", "eu-west-1") is None
    assert regions.bedrock_destinations("a.b-v1:0", "eu-west-1") == ("eu-west-1",)
    assert regions.bedrock_destinations("us.a.b-v1:0", "us-east-1") == tuple(
        sorted(regions.BEDROCK_PROFILE_DESTINATIONS["us"]))
    # An explicit list wins over the table, and the source region is always in it.
    assert regions.bedrock_destinations("us.a.b-v1:0", "us-east-1", ["us-west-2"]) == (
        "us-east-1", "us-west-2")
    # Even a source region outside the profile's table is included (it is where it runs).
    assert "ca-central-1" in regions.bedrock_destinations("us.a.b-v1:0", "ca-central-1")


def test_processing_regions_for_bedrock() -> None:
    assert regions.processing_regions_for_bedrock("global.a.b-v1:0", "eu-west-1") == {ANY}
    assert regions.processing_regions_for_bedrock("a.b-v1:0", "eu-west-1") == {"aws:eu-west-1"}
    # A model entry's destination_regions narrow the profile's set (plus the source).
    assert regions.processing_regions_for_bedrock("us.a.b-v1:0", "us-east-1", ["us-west-2"]) == {
        "aws:us-east-1", "aws:us-west-2"}
    eu = regions.processing_regions_for_bedrock("eu.a.b-v1:0", "eu-central-1")
    assert eu == {f"aws:{r}" for r in regions.BEDROCK_PROFILE_DESTINATIONS["eu"]}


def test_processing_regions_for_azure() -> None:
    assert regions.processing_regions_for_azure("GlobalStandard", "swedencentral") == {ANY}
    assert regions.processing_regions_for_azure("Standard", "swedencentral") == {
        "azure:swedencentral"}
    zone = regions.processing_regions_for_azure("DataZoneStandard", "swedencentral")
    assert zone == regions.regions_of_geography("eu")
    assert "azure:westeurope" in zone and "aws:eu-central-1" in zone
    assert "azure:uksouth" not in zone
    us = regions.processing_regions_for_azure("DataZoneStandard", "eastus")
    assert us == regions.regions_of_geography("us") and "aws:us-east-1" in us
    # A data zone outside the US and EU does not exist: fail safe (anywhere), never narrow.
    assert regions.processing_regions_for_azure("DataZoneStandard", "japaneast") == {ANY}
    assert regions.processing_regions_for_azure("DataZoneStandard", "nowhere") == {ANY}


def test_regions_of_geography_spans_both_clouds() -> None:
    uk = regions.regions_of_geography("uk")
    assert uk == {"aws:eu-west-2", "azure:uksouth", "azure:ukwest"}
    assert regions.regions_of_geography("atlantis") == frozenset()


def test_expand_allowed() -> None:
    assert regions.expand_allowed(["any"]) == {ANY}
    assert regions.expand_allowed(["eu-west-2", "uksouth"]) == {"aws:eu-west-2",
                                                               "azure:uksouth"}
    assert regions.expand_allowed(["ch", "eu-central-1"]) == regions.regions_of_geography(
        "ch") | {"aws:eu-central-1"}
    assert regions.expand_allowed([]) == frozenset()
    with pytest.raises(ValueError, match="unknown region or geography 'mars'"):
        regions.expand_allowed(["eu", "mars"])


def test_satisfies_is_subset_with_anywhere() -> None:
    eu = regions.expand_allowed(["eu"])
    assert regions.satisfies(frozenset({"aws:eu-west-1"}), eu)
    assert not regions.satisfies(frozenset({"aws:eu-west-1", "aws:us-east-1"}), eu)
    assert not regions.satisfies(frozenset({ANY}), eu)
    assert regions.satisfies(frozenset({ANY}), frozenset({ANY}))
    assert regions.satisfies(frozenset({"aws:us-east-1"}), frozenset({ANY, "aws:eu-west-1"}))
    assert regions.satisfies(frozenset(), eu)


def test_zone_ids_per_region() -> None:
    # IDs, not letters: the same physical zones in every account. us-west-1 and
    # ap-northeast-1 give accounts fewer zones than the letters suggest.
    assert aws_zones.zone_ids("us-west-1") == ("usw1-az1", "usw1-az3")
    assert aws_zones.default_zone_ids("ap-northeast-1", 3) == ("apne1-az1", "apne1-az2",
                                                               "apne1-az4")
    assert aws_zones.default_zone_ids("eu-central-1", 2) == ("euc1-az1", "euc1-az2")
    assert aws_zones.zone_ids("eu-west-2") == ("euw2-az1", "euw2-az2", "euw2-az3", "euw2-az4")
    # Every region the spec accepts has its zone IDs, named after the region.
    for region in regions.AWS_REGIONS:
        ids = aws_zones.zone_ids(region)
        assert len(ids) >= 2, region
        assert all(z.endswith(tuple(f"-az{n}" for n in range(1, 7))) for z in ids), region
    with pytest.raises(ValueError, match="us-west-1: 2 availability zone IDs are known"):
        aws_zones.default_zone_ids("us-west-1", 3)


def test_describe() -> None:
    assert regions.describe(frozenset({ANY, "aws:eu-west-1"})) == "any region"
    assert regions.describe(frozenset({"aws:eu-west-1", "azure:swedencentral"})) == (
        "eu (eu-west-1, swedencentral)")
    three = frozenset({"aws:eu-west-1", "aws:eu-west-3", "aws:eu-north-1",
                       "azure:uksouth"})
    assert regions.describe(three) == "eu (3 regions); uk (uksouth)"
    assert regions.describe(frozenset({"aws:nowhere-1"})) == "? (nowhere-1)"
    assert regions.describe(frozenset()) == ""


places = st.sampled_from(sorted(regions.regions_of_geography("eu")
                                | regions.regions_of_geography("us"))[:12])
place_sets = st.one_of(st.just(frozenset({ANY})), st.frozensets(places, max_size=5))


@given(processing=place_sets, allowed=place_sets)
def test_property_satisfies_matches_set_logic(processing: frozenset[str],
                                              allowed: frozenset[str]) -> None:
    expected = ANY in allowed or (ANY not in processing and processing <= allowed)
    assert regions.satisfies(processing, allowed) is expected


@given(prefix=st.sampled_from(sorted(regions.BEDROCK_PROFILE_DESTINATIONS)),
       source=st.sampled_from(sorted(regions.AWS_REGIONS)))
def test_property_a_profile_processes_in_every_destination_and_its_source(
        prefix: str, source: str) -> None:
    processing = regions.processing_regions_for_bedrock(f"{prefix}.vendor.model-v1:0", source)
    expected = {f"aws:{r}" for r in regions.BEDROCK_PROFILE_DESTINATIONS[prefix]}
    assert processing == expected | {f"aws:{source}"}
