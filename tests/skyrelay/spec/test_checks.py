"""Whole-document checks (``skyrelay.spec.checks``) through the loader, one broken rule each.

Each check turns a deploy that cannot work (or a route that can never serve its tenant)
into a ``validate`` error with its location. Every test starts from the default spec, breaks
one thing, and requires exactly the problem that names it: a check that silently stopped
firing (the zero-weight check was once removed with every test green) fails here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay.spec import SpecError, parse_spec_text
from skyrelay.spec.checks import dotted_path, needs_egress, vpc_addresses_needed

ROOT = Path(__file__).resolve().parents[3]
BASE = yaml.safe_load((ROOT / "examples" / "platform.yaml").read_text())


def problems(change: Callable[[dict[str, Any]], None]) -> list[tuple[str, str]]:
    doc = copy.deepcopy(BASE)
    change(doc)
    with pytest.raises(SpecError) as info:
        parse_spec_text(yaml.safe_dump(doc, sort_keys=False), "spec.yaml")
    return [(i.dotted, i.message) for i in info.value.issues]


def only(change: Callable[[dict[str, Any]], None], where: str, text: str) -> str:
    found = problems(change)
    assert len(found) == 1 and found[0][0] == where and text in found[0][1], found
    return found[0][1]


def test_the_default_spec_has_no_problem() -> None:
    assert parse_spec_text(yaml.safe_dump(BASE), "spec.yaml").name == "acme-ai"


def route(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in doc["routes"] if r["name"] == name)


# --- routes --------------------------------------------------------------------------------

def test_weighted_route_with_only_zero_weights_is_refused() -> None:
    def zero(doc: dict[str, Any]) -> None:
        for t in route(doc, "chat-eu")["targets"]:
            t["weight"] = 0
    only(zero, "routes[3].targets", "a weighted route needs at least one weight above 0")


def test_zero_weights_are_fine_on_other_strategies_and_with_one_positive() -> None:
    doc = copy.deepcopy(BASE)
    for t in route(doc, "gpt-4o")["targets"]:
        t["weight"] = 0
    route(doc, "chat-eu")["targets"][0]["weight"] = 0  # the other keeps weight 1
    assert parse_spec_text(yaml.safe_dump(doc), "spec.yaml").name == "acme-ai"


@pytest.mark.parametrize(("target", "text"), [
    ({"cloud": "bedrock", "region": "us-west-2", "model": "x"},
     "target bedrock:us-west-2/x: region 'us-west-2' is not under aws.regions"),
    ({"cloud": "azure", "account": "ghost", "deployment": "x"},
     "target azure:ghost/x: account 'ghost' is not under azure.accounts"),
    ({"cloud": "openai", "endpoint": "ghost", "model": "x"},
     "target openai:ghost/x: endpoint 'ghost' is not under openai_compatible"),
    ({"cloud": "bedrock", "region": "us-east-1", "model": "gpt-5"},
     "target bedrock:us-east-1/gpt-5: no Bedrock model named 'gpt-5' in us-east-1 (declared: "
     "bedrock:eu-central-1/claude-sonnet, "),
    ({"cloud": "azure", "account": "acme-openai-swc", "deployment": "o9"},
     "no deployment named 'o9' in acme-openai-swc (declared: azure:acme-openai-swc/gpt-4o, "),
])
def test_a_route_target_nobody_creates_is_named(target: dict[str, Any], text: str) -> None:
    def add(doc: dict[str, Any]) -> None:
        route(doc, "gpt-4o")["targets"].append(target)
    only(add, "routes[0].targets[2]", text)


def test_a_target_of_the_wrong_kind() -> None:
    def embed(doc: dict[str, Any]) -> None:
        route(doc, "gpt-4o")["targets"].append(
            {"cloud": "bedrock", "region": "us-east-1", "model": "titan-embed"})
    only(embed, "routes[0].targets[2]", "target bedrock:us-east-1/titan-embed serves embedding "
         "but route 'gpt-4o' is a chat route")


# --- duplicates ----------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "where", "text"), [
    (lambda d: d["routes"].append(copy.deepcopy(d["routes"][1])), "routes[5].name",
     "duplicate route name 'chat-default' (first at index 1)"),
    (lambda d: d["tenants"].append(copy.deepcopy(d["tenants"][0])), "tenants[3].name",
     "duplicate tenant name 'web-app' (first at index 0)"),
    (lambda d: d["aws"]["regions"]["us-east-1"]["bedrock_models"].append(
        copy.deepcopy(d["aws"]["regions"]["us-east-1"]["bedrock_models"][2])),
     "aws.regions.us-east-1.bedrock_models[3].name",
     "duplicate Bedrock model name 'titan-embed' (first at index 2)"),
    (lambda d: d["azure"]["accounts"][0]["deployments"].append(
        copy.deepcopy(d["azure"]["accounts"][0]["deployments"][1])),
     "azure.accounts[0].deployments[3].name",
     "duplicate deployment name 'gpt-4o-mini' (first at index 1)"),
    (lambda d: d["azure"]["content_filters"].append(
        copy.deepcopy(d["azure"]["content_filters"][0])),
     "azure.content_filters[1].name", "duplicate content filter name 'strict' (first at index 0)"),
    (lambda d: d["fine_tuning"]["jobs"].append(copy.deepcopy(d["fine_tuning"]["jobs"][0])),
     "fine_tuning.jobs[1].name", "duplicate job name 'support-summarizer' (first at index 0)"),
])
def test_duplicate_names(change: Callable[[dict[str, Any]], None], where: str,
                         text: str) -> None:
    assert (where, text) in [(w, m[:len(text)]) for w, m in problems(change)]


def test_job_names_that_differ_only_in_repeated_hyphens() -> None:
    def twin(doc: dict[str, Any]) -> None:
        job = copy.deepcopy(doc["fine_tuning"]["jobs"][0])
        job["name"] = "support--summarizer"
        doc["fine_tuning"]["jobs"].append(job)
    only(twin, "fine_tuning.jobs[1].name", "job names 'support-summarizer' and "
         "'support--summarizer' differ only in repeated hyphens")


# --- tenants and residency -----------------------------------------------------------------

def test_tenant_classification_and_routes_must_exist() -> None:
    def unknown(doc: dict[str, Any]) -> None:
        doc["tenants"][0]["classification"] = "secret"
    only(unknown, "tenants[0].classification", "classification 'secret' is not under "
         "compliance.classifications (defined: eu-personal, internal, public)")

    def no_route(doc: dict[str, Any]) -> None:
        doc["tenants"][1]["routes"].append("gpt-9")
    only(no_route, "tenants[1].routes[3]", "route 'gpt-9' does not exist (routes: chat-default, "
         "chat-eu, claude-sonnet, gpt-4o, text-embedding)")


def test_tenant_whose_classification_no_target_of_a_route_may_serve() -> None:
    def eu_on_us(doc: dict[str, Any]) -> None:
        doc["routes"].append({"name": "us-chat", "strategy": "priority", "targets": [
            {"cloud": "bedrock", "region": "us-east-1", "model": "nova-pro"},
            {"cloud": "azure", "account": "acme-openai-swc", "deployment": "gpt-4o-mini"}]})
        doc["tenants"][2]["routes"].append("us-chat")
    message = only(eu_on_us, "tenants[2].routes[3]", "tenant 'eu-support' has classification "
                   "'eu-personal' (allowed: eu) but no target of route 'us-chat' may process "
                   "its data there (")
    assert message.endswith("(bedrock:us-east-1/nova-pro processes in us (us-east-1); "
                            "azure:acme-openai-swc/gpt-4o-mini processes in any region)")
    # One servable target is enough: chat-default has nova-pro in eu-central-1.
    doc = copy.deepcopy(BASE)
    doc["tenants"][2]["routes"].append("chat-default")
    parse_spec_text(yaml.safe_dump(doc), "spec.yaml")


def test_residency_places_no_classification_allows() -> None:
    def eu_only(doc: dict[str, Any]) -> None:
        doc["compliance"]["classifications"] = {"eu-personal": {"allowed": ["eu"]}}
        for t in doc["tenants"]:
            t["classification"] = "eu-personal"
            t["routes"] = ["chat-eu"]
    found = problems(eu_only)
    where = [w for w, _ in found]
    assert "aws.regions.us-east-1" in where
    assert "aws.regions.eu-central-1" not in where
    assert "azure.accounts[0].deployments[1].sku" in where  # GlobalStandard
    assert "azure.accounts[0].location" not in where  # swedencentral is in the EU
    assert any("us-east-1 (us) is outside every region the compliance classifications allow "
               "(eu-personal: eu)" in m for _, m in found)


def test_azure_account_outside_every_classification() -> None:
    def us_only(doc: dict[str, Any]) -> None:
        doc["compliance"]["classifications"] = {"us": {"allowed": ["us"]}}
        doc["aws"]["regions"].pop("eu-central-1")
        doc["gateway"]["regions"] = ["us-east-1"]
        for t in doc["tenants"]:
            t["classification"] = "us"
        doc["routes"] = [r for r in doc["routes"] if r["name"] in ("gpt-4o",)]
        doc["routes"][0]["targets"] = [doc["routes"][0]["targets"][1]]
        for t in doc["tenants"]:
            t["routes"] = ["gpt-4o"]
    found = problems(us_only)
    assert any(w == "azure.accounts[0].location" and m.startswith(
        "swedencentral (eu) is outside every region") for w, m in found), found


# --- network and AWS references -------------------------------------------------------------

def test_overlapping_vpcs() -> None:
    def overlap(doc: dict[str, Any]) -> None:
        doc["aws"]["regions"]["eu-central-1"]["vpc_cidr"] = "10.10.128.0/17"
    only(overlap, "aws.regions.eu-central-1.vpc_cidr",
         "overlaps the VPC of us-east-1 (10.10.0.0/16); regions need distinct ranges")


def test_zone_counts() -> None:
    def many(doc: dict[str, Any]) -> None:
        doc["aws"]["regions"]["ap-northeast-1"] = {"vpc_cidr": "10.30.0.0/16", "az_count": 4}
    only(many, "aws.regions.ap-northeast-1.az_count",
         "ap-northeast-1 has 3 availability zones usable in every account (apne1-az1, "
         "apne1-az2, apne1-az4); az_count is 4")

    def one(doc: dict[str, Any]) -> None:
        doc["aws"]["regions"]["us-east-1"]["zone_ids"] = ["use1-az1"]
    only(one, "aws.regions.us-east-1.zone_ids", "the gateway runs here and its load balancer "
         "needs subnets in at least 2 availability zones")


def test_zone_ids_must_be_zones_of_the_region() -> None:
    # Zone IDs are the same physical zones in every account; one of another region (or a
    # retired one) would only fail at deploy time, so validate names the field and the IDs.
    def elsewhere(doc: dict[str, Any]) -> None:
        doc["aws"]["regions"]["us-east-1"]["zone_ids"] = ["use1-az1", "euc1-az2"]
    text = only(elsewhere, "aws.regions.us-east-1.zone_ids[1]",
                "'euc1-az2' is not an availability zone ID of us-east-1 (expected one of "
                "use1-az1, use1-az2, use1-az4, use1-az5, use1-az6, use1-az3")
    assert "aws-availability-zones.html" in text

    def twice(doc: dict[str, Any]) -> None:
        doc["aws"]["regions"]["us-east-1"]["zone_ids"] = ["use1-az1", "use1-az1"]
    only(twice, "aws.regions.us-east-1.zone_ids[1]", "'use1-az1' is listed twice")

    def both(doc: dict[str, Any]) -> None:
        doc["aws"]["regions"]["us-east-1"]["az_count"] = 3
    only(both, "aws.regions.us-east-1.az_count",
         "az_count is 3 but zone_ids names 2 zones; give one of the two")


def test_a_zone_name_is_not_a_zone_id() -> None:
    def name(doc: dict[str, Any]) -> None:
        doc["aws"]["regions"]["us-east-1"]["zone_ids"] = ["us-east-1a", "use1-az2"]
    assert [where for where, _ in problems(name)] == ["aws.regions.us-east-1.zone_ids[0]"]


def test_vpc_too_small_names_the_prefix_to_use() -> None:
    def small(doc: dict[str, Any]) -> None:
        doc["aws"]["regions"]["us-east-1"]["vpc_cidr"] = "10.10.0.0/20"
    only(small, "aws.regions.us-east-1.vpc_cidr", "10.10.0.0/20 is too small for 2 availability "
         "zone(s) (a /24 public, a /20 private and a /24 data subnet per zone, as the gateway "
         "here reaches other clouds): use a /18 or larger")


def test_vpc_sizes_follow_the_subnet_layout() -> None:
    assert vpc_addresses_needed(1, False) == 4096
    assert vpc_addresses_needed(2, False) == 8192
    # /24 public x2 (0..512), then /20 private aligned to 4096 (4096..12288), then /24 x2.
    assert vpc_addresses_needed(2, True) == 12288 + 512
    assert vpc_addresses_needed(3, True) == 16384 + 768


def test_egress_only_where_the_gateway_runs_and_reaches_other_clouds() -> None:
    spec = parse_spec_text(yaml.safe_dump(BASE), "spec.yaml")
    assert needs_egress(spec, "us-east-1") and needs_egress(spec, "eu-central-1")
    doc = copy.deepcopy(BASE)
    doc["gateway"]["regions"] = ["us-east-1"]
    assert not needs_egress(parse_spec_text(yaml.safe_dump(doc), "s.yaml"), "eu-central-1")


def test_gateway_and_job_regions_need_a_vpc() -> None:
    def far(doc: dict[str, Any]) -> None:
        doc["gateway"]["regions"].append("us-west-2")
    assert ("gateway.regions[2]", "gateway region 'us-west-2' must also be under aws.regions "
            "(it needs the VPC)") in problems(far)

    def job(doc: dict[str, Any]) -> None:
        doc["fine_tuning"]["jobs"][0]["region"] = "us-west-2"
    only(job, "fine_tuning.jobs[0].region", "job region 'us-west-2' is not under aws.regions")


# --- Azure ----------------------------------------------------------------------------------

def test_undefined_content_filter() -> None:
    def ghost(doc: dict[str, Any]) -> None:
        doc["azure"]["accounts"][0]["deployments"][1]["content_filter"] = "lenient"
    only(ghost, "azure.accounts[0].deployments[1].content_filter",
         "content filter 'lenient' is not defined under azure.content_filters (defined: "
         "['strict'])")


def test_names_the_azure_program_would_use_twice() -> None:
    def clash(doc: dict[str, Any]) -> None:
        second = copy.deepcopy(doc["azure"]["accounts"][0])
        second["name"] = "acme-openai"
        second["custom_subdomain"] = "acme-openai-2"
        second["deployments"] = [{**second["deployments"][2], "name": "swc-text-embedding-3-large"}]
        second["deployments"][0].pop("content_filter", None)
        doc["azure"]["accounts"].append(second)
    found = problems(clash)
    assert any(w == "azure.accounts[1].deployments[0].name" and "Deployment "
               "'acme-openai-swc-text-embedding-3-large'" in m
               and "azure.accounts[0].deployments[2]" in m for w, m in found), found


# --- key references -------------------------------------------------------------------------

def test_key_reference_may_not_take_a_platform_variable() -> None:
    def reserved(doc: dict[str, Any]) -> None:
        doc["tenants"][0]["api_key"] = {"env": "SKYRELAY_REDIS_URL"}
    only(reserved, "tenants[0].api_key.env", "SKYRELAY_REDIS_URL is set by the platform itself")


def test_two_references_may_not_reach_the_gateway_as_one_variable() -> None:
    """Secret names become environment variables (case and punctuation folded): two
    different secrets that fold to one variable would hand one tenant the other's key."""
    def twins(doc: dict[str, Any]) -> None:
        doc["tenants"][0]["api_key"] = {"secret": "skyrelay/tenants/web.app"}
        doc["tenants"][1]["api_key"] = {"secret": "skyrelay/tenants/web-app"}
    only(twins, "tenants[1].api_key", "like the different reference at tenants[0].api_key")


def test_dotted_path() -> None:
    assert dotted_path(("tenants", 0, "api_key")) == "tenants[0].api_key"
    assert dotted_path(("aws", "regions", "us-east-1")) == "aws.regions.us-east-1"
    assert dotted_path((2, "x")) == "[2].x"
    assert dotted_path(()) == ""


# --- more duplicates, endpoints, summaries and the config size ------------------------------

VLLM = {"name": "vllm", "base_url": "http://10.0.0.5:8000/v1", "processing": ["us-east-1"],
        "models": [{"name": "llama", "model": "meta-llama/Llama-3.1-8B",
                    "price": {"input_per_million": 0.1, "output_per_million": 0.1}}]}


def test_duplicate_azure_accounts_and_shared_subdomains() -> None:
    def twin(doc: dict[str, Any]) -> None:
        doc["azure"]["accounts"].append(copy.deepcopy(doc["azure"]["accounts"][0]))
        doc["azure"]["accounts"][1]["deployments"] = doc["azure"]["accounts"][1][
            "deployments"][2:]
    found = problems(twin)
    assert ("azure.accounts[1].name",
            "duplicate Azure account name 'acme-openai-swc' (first at index 0)") in found

    def same_subdomain(doc: dict[str, Any]) -> None:
        second = copy.deepcopy(doc["azure"]["accounts"][0])
        second["name"] = "acme-openai-two"
        second["custom_subdomain"] = "acme-openai-swc"
        second["deployments"] = [{**second["deployments"][2], "name": "emb2"}]
        doc["azure"]["accounts"].append(second)
    assert ("azure.accounts[1].custom_subdomain",
            "custom subdomain 'acme-openai-swc' is used by another account") in problems(
        same_subdomain)


def test_three_accounts_name_the_subdomain_clash_once_each() -> None:
    def three(doc: dict[str, Any]) -> None:
        base = doc["azure"]["accounts"][0]
        for i, sub in ((2, "shared-sub"), (3, "shared-sub")):
            extra = copy.deepcopy(base)
            extra["name"] = f"acct-{i}"
            extra["custom_subdomain"] = sub
            extra["deployments"] = [{**base["deployments"][2], "name": f"emb{i}"}]
            doc["azure"]["accounts"].append(extra)
    found = [w for w, m in problems(three) if "custom subdomain" in m]
    assert found == ["azure.accounts[2].custom_subdomain"]


def test_openai_compatible_duplicates_and_missing_models() -> None:
    def dup(doc: dict[str, Any]) -> None:
        endpoint = copy.deepcopy(VLLM)
        endpoint["models"].append(copy.deepcopy(endpoint["models"][0]))
        doc["openai_compatible"] = [endpoint, copy.deepcopy(VLLM)]
    found = problems(dup)
    assert ("openai_compatible[0].models[1].name",
            "duplicate model name 'llama' (first at index 0)") in found
    assert ("openai_compatible[1].name",
            "duplicate endpoint name 'vllm' (first at index 0)") in found

    def missing(doc: dict[str, Any]) -> None:
        doc["openai_compatible"] = [copy.deepcopy(VLLM)]
        route(doc, "gpt-4o")["targets"].append(
            {"cloud": "openai", "endpoint": "vllm", "model": "mistral"})
    only(missing, "routes[0].targets[2]",
         "target openai:vllm/mistral: no model named 'mistral' in vllm (declared: "
         "openai:vllm/llama)")


def test_distinct_job_names_are_no_problem() -> None:
    doc = copy.deepcopy(BASE)
    job = copy.deepcopy(doc["fine_tuning"]["jobs"][0])
    job["name"] = "support-classifier"
    doc["fine_tuning"]["jobs"].append(job)
    assert parse_spec_text(yaml.safe_dump(doc), "spec.yaml").name == "acme-ai"


def test_residency_messages_summarize_every_classification() -> None:
    def two(doc: dict[str, Any]) -> None:
        doc["compliance"]["classifications"] = {"eu-personal": {"allowed": ["eu"]},
                                                "ch-data": {"allowed": ["ch", "uk"]}}
        for t in doc["tenants"]:
            t["classification"] = "eu-personal"
            t["routes"] = ["chat-eu"]
    messages = [m for w, m in problems(two) if w == "aws.regions.us-east-1"]
    assert messages == ["us-east-1 (us) is outside every region the compliance "
                        "classifications allow (eu-personal: eu; ch-data: ch, uk)"]


def _config_size(doc: dict[str, Any]) -> int:
    from skyrelay.link import config_json
    from skyrelay.views.gateway_config import sized_for_deploy

    try:
        spec = parse_spec_text(yaml.safe_dump(doc), "s.yaml")
    except SpecError:  # the size check itself refused it: over the limit
        return 10**9
    # The largest regional config, its guardrail ids at their longest (what is stored).
    return max(len(config_json(sized_for_deploy(spec, r)).encode())
               for r in spec.gateway.regions)


def test_gateway_config_over_its_parameter_size_is_refused_at_the_byte() -> None:
    """8,192 bytes is what the advanced-tier SSM parameter holds: exactly that fits, one
    more byte does not (per gateway region, with the guardrail ids the stack adds)."""
    doc = copy.deepcopy(BASE)
    template = copy.deepcopy(doc["tenants"][1])
    n = 0
    while True:
        extra = copy.deepcopy(template)
        extra["name"] = f"t{n}"
        extra["api_key"] = {"secret": f"skyrelay/tenants/t{n}"}
        doc["tenants"].append(extra)
        if _config_size(doc) >= 8192:
            doc["tenants"].pop()
            break
        n += 1
    # Lengthen tenant names (each appears once in the config) to land on the limit.
    pad = 8192 - _config_size(doc)
    for tenant in doc["tenants"][3:]:
        grow = min(pad, 60 - len(tenant["name"]))
        tenant["name"] += "x" * grow
        pad -= grow
    assert pad == 0
    assert _config_size(doc) == 8192
    last = doc["tenants"][-1]
    parse_spec_text(yaml.safe_dump(doc), "spec.yaml")  # exactly the limit: fine
    last["name"] += "y"
    only(lambda d: d.update(copy.deepcopy(doc)), "gateway",
         "the gateway config derived from this spec is 8193 bytes; its SSM parameter holds "
         "at most 8192 (fewer or shorter tenants, routes or targets)")
