"""The Bedrock ARNs IAM must allow (``skyrelay.views.bedrock_arns``).

A missing ARN is an AccessDenied at 3 a.m. for every request a profile routes to that
region; an extra one is a permission nobody needs. A ``global.`` profile needs the
region-less foundation-model ARN *and* the one in the calling region (dropping the latter
broke in-region invocations while every test stayed green).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from skyrelay import regions
from skyrelay.spec import Spec
from skyrelay.spec.models import BedrockModel, Price
from skyrelay.views.bedrock_arns import BedrockArns, bedrock_invoke_arns, model_arns, partition_of

ACCOUNT = "111122223333"
PRICE = Price(input_per_million=1, output_per_million=1)


def model(model_id: str, dest: tuple[str, ...] | None = None) -> BedrockModel:
    return BedrockModel(name="m", model_id=model_id, price=PRICE, destination_regions=dest)


def test_in_region_model_needs_one_foundation_model_arn() -> None:
    arns = model_arns(model("amazon.nova-pro-v1:0"), "eu-central-1", ACCOUNT)
    assert arns == BedrockArns("eu-central-1",
                               ("arn:aws:bedrock:eu-central-1::foundation-model/"
                                "amazon.nova-pro-v1:0",), ())


def test_geography_profile_needs_its_profile_and_every_destination() -> None:
    arns = model_arns(model("eu.anthropic.claude-v1:0"), "eu-central-1", ACCOUNT)
    assert arns.inference_profiles == (
        f"arn:aws:bedrock:eu-central-1:{ACCOUNT}:inference-profile/eu.anthropic.claude-v1:0",)
    assert arns.foundation_models == tuple(sorted(
        f"arn:aws:bedrock:{r}::foundation-model/anthropic.claude-v1:0"
        for r in regions.BEDROCK_PROFILE_DESTINATIONS["eu"]))


def test_global_profile_needs_regionless_and_in_region_foundation_model_arns() -> None:
    arns = model_arns(model("global.anthropic.claude-v1:0"), "eu-west-1", ACCOUNT)
    assert arns.inference_profiles == (
        f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:inference-profile/global.anthropic.claude-v1:0",)
    assert arns.foundation_models == (
        "arn:aws:bedrock:::foundation-model/anthropic.claude-v1:0",
        "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-v1:0")
    assert arns.all() == [*arns.inference_profiles, *arns.foundation_models]


def test_narrowed_destinations_and_the_source_region() -> None:
    arns = model_arns(model("us.meta.llama-v1:0", ("us-west-2",)), "us-east-1", ACCOUNT)
    assert arns.foundation_models == (
        "arn:aws:bedrock:us-east-1::foundation-model/meta.llama-v1:0",
        "arn:aws:bedrock:us-west-2::foundation-model/meta.llama-v1:0")


def test_govcloud_arns_use_their_partition() -> None:
    assert partition_of("us-gov-west-1") == "aws-us-gov"
    assert partition_of("us-east-1") == "aws"
    arns = model_arns(model("us-gov.anthropic.claude-v1:0"), "us-gov-west-1", ACCOUNT)
    assert arns.all() and all(a.startswith("arn:aws-us-gov:bedrock:") for a in arns.all())


def test_region_arns_union_the_models_each_once_sorted(default_spec: Spec) -> None:
    arns = bedrock_invoke_arns(default_spec, "us-east-1", ACCOUNT)
    expected_fms: set[str] = set()
    expected_profiles: set[str] = set()
    for m in default_spec.aws.regions["us-east-1"].bedrock_models:
        one = model_arns(m, "us-east-1", ACCOUNT)
        expected_fms.update(one.foundation_models)
        expected_profiles.update(one.inference_profiles)
    assert arns.region == "us-east-1"
    assert arns.foundation_models == tuple(sorted(expected_fms))
    assert arns.inference_profiles == tuple(sorted(expected_profiles))
    assert len(arns.all()) == len(set(arns.all()))
    assert bedrock_invoke_arns(default_spec, "ap-south-1", ACCOUNT) == BedrockArns(
        "ap-south-1", (), ())


def test_the_same_profile_twice_in_a_region_is_listed_once(default_spec: Spec) -> None:
    region = default_spec.aws.regions["us-east-1"]
    twice = region.model_copy(update={"bedrock_models": (*region.bedrock_models,
                                                         *region.bedrock_models)})
    doubled = default_spec.model_copy(update={"aws": default_spec.aws.model_copy(
        update={"regions": {**default_spec.aws.regions, "us-east-1": twice}})})
    assert bedrock_invoke_arns(doubled, "us-east-1", ACCOUNT) == bedrock_invoke_arns(
        default_spec, "us-east-1", ACCOUNT)


@given(prefix=st.sampled_from(sorted(regions.BEDROCK_PROFILE_DESTINATIONS)),
       source=st.sampled_from(sorted(regions.AWS_REGIONS)))
def test_property_profile_arns_cover_every_destination_the_catalog_lists(
        prefix: str, source: str) -> None:
    m = model(f"{prefix}.vendor.model-v1:0")
    arns = model_arns(m, source, ACCOUNT)
    part = partition_of(source)
    for region in regions.BEDROCK_PROFILE_DESTINATIONS[prefix]:
        assert f"arn:{part}:bedrock:{region}::foundation-model/vendor.model-v1:0" in (
            arns.foundation_models), (prefix, source, region)
    assert f"arn:{part}:bedrock:{source}::foundation-model/vendor.model-v1:0" in (
        arns.foundation_models)
    assert arns.inference_profiles == (
        f"arn:{part}:bedrock:{source}:{ACCOUNT}:inference-profile/{m.model_id}",)


def _region_with(default_spec: Spec, *models: BedrockModel) -> Spec:
    region = default_spec.aws.regions["us-east-1"].model_copy(update={"bedrock_models": models})
    return default_spec.model_copy(update={"aws": default_spec.aws.model_copy(
        update={"regions": {**default_spec.aws.regions, "us-east-1": region}})})


def test_a_model_both_in_region_and_behind_a_profile_stays_directly_invokable(
        default_spec: Spec) -> None:
    """Nova Pro by its own id *and* through ``us.`` in one region: the in-region ARN is
    routed by the profile and also invoked directly. IAM grants direct invocation from
    :attr:`direct_models`, so dropping it there denies the in-region entry."""
    spec = _region_with(default_spec, model("amazon.nova-pro-v1:0"),
                        model("us.amazon.nova-pro-v1:0"))
    arns = bedrock_invoke_arns(spec, "us-east-1", ACCOUNT)
    in_region = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"
    assert arns.direct_models == (in_region,)
    profile = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/us.amazon.nova-pro-v1:0"
    (routed_by, routed), = arns.profile_models
    assert routed_by == profile and in_region in routed
    assert set(routed) == set(arns.foundation_models)


def test_each_profile_maps_to_the_foundation_models_it_routes_to(default_spec: Spec) -> None:
    """The IAM statement for a profile's foundation models is conditioned on that profile
    (bedrock:InferenceProfileArn): the mapping must name each profile with its own models."""
    spec = _region_with(default_spec, model("us.amazon.nova-pro-v1:0"),
                        model("us.anthropic.claude-sonnet-4-20250514-v1:0"))
    arns = bedrock_invoke_arns(spec, "us-east-1", ACCOUNT)
    by_profile = dict(arns.profile_models)
    assert sorted(by_profile) == list(arns.inference_profiles)
    for profile, routed in by_profile.items():
        model_id = profile.rsplit("/", 1)[1]
        fm_id = regions.foundation_model_id(model_id)
        assert routed and all(a.endswith(f"/{fm_id}") for a in routed)
    assert arns.direct_models == ()
    one = model_arns(model("us.amazon.nova-pro-v1:0"), "us-east-1", ACCOUNT)
    assert one.region == "us-east-1" and one.direct_models == ()
