"""The whole-document checks word for word, and the edges where a check must stay quiet.

A ``validate`` message is the only instruction a platform engineer gets before a deploy that
would fail: it names the field to change and what to change it to. So these tests compare
each message (and its field path) exactly, not by a fragment, and they pin the boundaries
(the largest zone count a region has, a VPC range of exactly the size needed, a check that
goes on after its first finding) that a one-character slip in ``skyrelay.spec.checks``
would move.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay import aws_zones
from skyrelay.spec import SpecError, parse_spec_text
from skyrelay.spec.checks import RESERVED_ENV

ROOT = Path(__file__).resolve().parents[3]
BASE = yaml.load((ROOT / "examples" / "platform.yaml").read_text(),
                 Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
Change = Callable[[dict[str, Any]], None]


def problems(change: Change) -> list[tuple[str, str]]:
    """(field path, message) of every problem the changed default spec has; [] if none."""
    doc = copy.deepcopy(BASE)
    change(doc)
    try:
        parse_spec_text(yaml.safe_dump(doc, sort_keys=False), "spec.yaml")
    except SpecError as err:
        return [(i.dotted, i.message) for i in err.issues]
    return []


def route(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in doc["routes"] if r["name"] == name)


def tenant(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in doc["tenants"] if t["name"] == name)


# --- network ---------------------------------------------------------------------------------

def test_every_zone_a_region_has_may_be_used() -> None:
    # us-east-1 has six zones usable in every account; six is allowed, the model caps at six.
    def by_count(doc: dict[str, Any]) -> None:
        region = doc["aws"]["regions"]["us-east-1"]
        region.pop("zone_ids", None)
        region["az_count"] = 6

    def by_id(doc: dict[str, Any]) -> None:
        doc["aws"]["regions"]["us-east-1"]["zone_ids"] = list(aws_zones.zone_ids("us-east-1"))
    assert len(aws_zones.zone_ids("us-east-1")) == 6
    assert problems(by_count) == []
    assert problems(by_id) == []


def _no_gateway_in_eu(cidr: str) -> Change:
    def change(doc: dict[str, Any]) -> None:
        doc["gateway"]["regions"] = ["us-east-1"]  # eu-central-1 then needs no NAT egress
        doc["aws"]["regions"]["eu-central-1"]["vpc_cidr"] = cidr
    return change


def test_a_vpc_range_of_exactly_the_size_needed_is_enough() -> None:
    # Without egress a zone takes one /20: two zones need 8192 addresses, a /19 has them.
    assert problems(_no_gateway_in_eu("10.20.0.0/19")) == []


def test_a_vpc_too_small_without_egress_names_the_layout_and_the_prefix_to_use() -> None:
    assert problems(_no_gateway_in_eu("10.20.0.0/20")) == [(
        "aws.regions.eu-central-1.vpc_cidr",
        "10.20.0.0/20 is too small for 2 availability zone(s) (a /20 subnet per zone): "
        "use a /19 or larger")]


def test_a_vpc_too_small_with_egress_names_the_three_subnet_layout() -> None:
    # Public /24s (512), aligned private /20s (to 8192), data /24s (8704): a /18 holds them.
    assert problems(lambda d: d["aws"]["regions"]["us-east-1"].update(
        vpc_cidr="10.10.0.0/20")) == [(
            "aws.regions.us-east-1.vpc_cidr",
            "10.10.0.0/20 is too small for 2 availability zone(s) (a /24 public, a /20 private "
            "and a /24 data subnet per zone, as the gateway here reaches other clouds): use a "
            "/18 or larger")]


# --- Azure -----------------------------------------------------------------------------------

def test_an_undefined_content_filter_says_none_are_defined() -> None:
    undefined = ("content filter 'strict' is not defined under azure.content_filters "
                 "(defined: none)")
    # The deployment's filter (an Azure RAI policy) and the tenant's (a Bedrock Guardrail too).
    assert problems(lambda d: d["azure"].update(content_filters=[])) == [
        ("azure.accounts[0].deployments[0].content_filter", undefined),
        ("tenants[2].content_filter", undefined)]


def test_a_data_zone_deployment_outside_a_data_zone_is_refused_at_its_sku() -> None:
    found = problems(lambda d: d["azure"]["accounts"][0].update(location="japaneast"))
    assert ("azure.accounts[0].deployments[0].sku",
            "DataZoneStandard needs an account in a data zone (US or EU); japaneast is in "
            "jp") in found
    # The GlobalStandard deployment beside it is no data-zone deployment.
    assert not any(m.startswith("DataZoneStandard") and p.endswith("deployments[1].sku")
                   for p, m in found)


def test_two_accounts_whose_rai_policy_names_collide() -> None:
    # Account "x" with filter "rai-y" and account "x-rai" with filter "y" would both name
    # their policy "x-rai-...": Pulumi refuses the duplicate URN.
    def change(doc: dict[str, Any]) -> None:
        azure = doc["azure"]
        strict = azure["content_filters"][0]
        azure["content_filters"] += [dict(strict, name="y"), dict(strict, name="x-rai-y")]
        twin = copy.deepcopy(azure["accounts"][0])
        twin["name"] = "acme-openai-swc-rai-x"
        for dep in twin["deployments"]:
            dep["content_filter"] = "y"
        azure["accounts"].append(twin)
        azure["accounts"][0]["deployments"][0]["content_filter"] = "x-rai-y"
    assert problems(change) == [(
        "azure.accounts[1].name",
        "the Azure program would name this RaiPolicy 'acme-openai-swc-rai-x-rai-y', like the "
        "one at azure.accounts[0]; Pulumi needs unique names (rename the deployment or the "
        "account)")]


# --- reachability ------------------------------------------------------------------------------

UNREACHABLE = ("account {name!r} cannot be reached from any gateway region (us-east-1, "
               "eu-central-1): 'disabled' leaves only its private endpoint, in an Azure "
               "virtual network no gateway VPC has a path to, so every call would get 403; set "
               "public_network_access: gateway-egress-only (public endpoint, default deny, "
               "only the gateways' NAT addresses allowed), or gateway_path: private-vpn (a "
               "site-to-site VPN to the private endpoint)")


def _private_accounts(count: int) -> Change:
    def change(doc: dict[str, Any]) -> None:
        accounts = doc["azure"]["accounts"]
        for n in range(1, count):
            twin = copy.deepcopy(accounts[0])
            twin["name"] = f"acme-openai-{n}"
            accounts.append(twin)
        for account in accounts:
            account["public_network_access"] = "disabled"
    return change


def test_every_unreachable_account_is_named_with_the_fix() -> None:
    assert problems(_private_accounts(2)) == [
        ("azure.accounts[0].public_network_access", UNREACHABLE.format(name="acme-openai-swc")),
        ("azure.accounts[1].public_network_access", UNREACHABLE.format(name="acme-openai-1")),
    ]


def test_a_reachable_account_does_not_end_the_search_for_unreachable_ones() -> None:
    def change(doc: dict[str, Any]) -> None:
        _private_accounts(2)(doc)
        doc["azure"]["accounts"][0]["public_network_access"] = "gateway-egress-only"
    assert problems(change) == [
        ("azure.accounts[1].public_network_access", UNREACHABLE.format(name="acme-openai-1"))]


def test_a_private_account_with_no_gateway_yet_has_nothing_to_be_reached_from() -> None:
    def change(doc: dict[str, Any]) -> None:
        _private_accounts(1)(doc)
        doc["gateway"]["regions"] = []
    assert problems(change) == []


# --- routes and tenants --------------------------------------------------------------------

def test_the_zero_weight_message_in_full() -> None:
    def zero(doc: dict[str, Any]) -> None:
        for target in route(doc, "chat-eu")["targets"]:
            target["weight"] = 0
    assert problems(zero) == [
        ("routes[3].targets", "a weighted route needs at least one weight above 0")]


def _titan_only_embeddings(doc: dict[str, Any]) -> None:
    # Only a us-east-1 target left: an EU-only tenant can no longer use the route.
    route(doc, "text-embedding")["targets"] = [
        {"cloud": "bedrock", "region": "us-east-1", "model": "titan-embed"}]


UNSERVABLE_EMBEDDING = (
    "tenant 'eu-support' has classification 'eu-personal' (allowed: eu) but no target of "
    "route 'text-embedding' may process its data there (bedrock:us-east-1/titan-embed "
    "processes in us (us-east-1))")


def test_a_missing_route_does_not_stop_the_tenant_s_other_routes_being_judged() -> None:
    def change(doc: dict[str, Any]) -> None:
        _titan_only_embeddings(doc)
        tenant(doc, "eu-support")["routes"] = ["nope", "text-embedding"]
    found = problems(change)
    assert [p for p, _ in found] == ["tenants[2].routes[0]", "tenants[2].routes[1]"], found
    assert found[0][1].startswith("route 'nope' does not exist (routes: chat-default, ")
    assert found[1][1] == UNSERVABLE_EMBEDDING


def test_a_route_with_only_missing_targets_is_reported_once_on_the_route() -> None:
    # Residency of a route none of whose targets exist is not judged for its tenants (the
    # route's own problem says what is wrong), and the tenant's next route still is.
    def change(doc: dict[str, Any]) -> None:
        _titan_only_embeddings(doc)
        route(doc, "chat-eu")["targets"] = [
            {"cloud": "bedrock", "region": "eu-central-1", "model": "nope", "weight": 1}]
        tenant(doc, "eu-support")["routes"] = ["chat-eu", "text-embedding"]
    found = problems(change)
    assert [p for p, _ in found] == ["routes[3].targets[0]", "tenants[2].routes[1]"], found
    assert found[1][1] == UNSERVABLE_EMBEDDING


def test_an_unservable_tenant_message_lists_every_allowed_area() -> None:
    def change(doc: dict[str, Any]) -> None:
        route(doc, "chat-default")["targets"] = [
            {"cloud": "azure", "account": "acme-openai-swc", "deployment": "gpt-4o-mini"}]
    assert problems(change) == [(
        "tenants[0].routes[1]",
        "tenant 'web-app' has classification 'internal' (allowed: us, eu) but no target of "
        "route 'chat-default' may process its data there (azure:acme-openai-swc/gpt-4o-mini "
        "processes in any region)")]


# --- residency of Azure deployments -------------------------------------------------------

def test_only_the_deployment_no_classification_allows_is_refused() -> None:
    # With no classification allowing "any", the GlobalStandard deployment has nowhere to
    # go; the Standard one processes in its own region (swedencentral, EU) and is fine.
    found = problems(lambda d: d["compliance"]["classifications"]["public"].update(
        allowed=["us", "eu"]))
    assert found == [(
        "azure.accounts[0].deployments[1].sku",
        "a GlobalStandard deployment (gpt-4o-mini) processes data in any region, which no "
        "compliance classification allows (public: us, eu; internal: us, eu; eu-personal: "
        "eu)")]


# --- references the gateway and its VPC need ------------------------------------------------

def test_no_aws_section_leaves_the_gateway_regions_without_a_vpc() -> None:
    found = problems(lambda d: d.pop("aws"))
    assert ("gateway.regions[1]",
            "gateway region 'eu-central-1' must also be under aws.regions (it needs the "
            "VPC)") in found
    assert ("fine_tuning.jobs[0].region", "job region 'us-east-1' is not under aws.regions") \
        in found


def test_a_task_size_fargate_lacks_is_reported_at_memory() -> None:
    assert problems(lambda d: d["gateway"].update(cpu=256, memory_mib=8192)) == [(
        "gateway.memory_mib",
        "Fargate has no task size with cpu 256 and memory_mib 8192: with cpu 256 use 512, "
        "1024 to 2048 in steps of 1024")]


def test_job_names_that_differ_only_in_hyphens_are_refused() -> None:
    def change(doc: dict[str, Any]) -> None:
        job = doc["fine_tuning"]["jobs"][0]
        doc["fine_tuning"]["jobs"].append(dict(job, name=job["name"].replace("-", "--")))
    assert problems(change) == [(
        "fine_tuning.jobs[1].name",
        "job names 'support-summarizer' and 'support--summarizer' differ only in repeated "
        "hyphens; the fine-tuning stack would give both jobs the same resource names")]


# --- key references -----------------------------------------------------------------------

RESERVED = ", ".join(sorted(RESERVED_ENV))


def test_every_reserved_variable_is_reported_with_the_reserved_list() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["tenants"][0]["api_key"] = {"env": "SKYRELAY_REDIS_URL"}
        doc["tenants"][1]["api_key"] = {"env": "SKYRELAY_GATEWAY_CONFIG"}
    assert problems(change) == [
        ("tenants[0].api_key.env", f"SKYRELAY_REDIS_URL is set by the platform itself "
                                   f"(reserved: {RESERVED}); name another variable"),
        ("tenants[1].api_key.env", f"SKYRELAY_GATEWAY_CONFIG is set by the platform itself "
                                   f"(reserved: {RESERVED}); name another variable"),
    ]
    assert RESERVED.startswith("AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, ")


@pytest.mark.parametrize("variable", ["SKYRELAY_REDIS_PASSWORD", "AZURE_CLIENT_SECRET"])
def test_an_upstream_key_may_not_take_a_reserved_variable(variable: str) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["openai_compatible"] = [{
            "name": "vllm", "base_url": "https://vllm.internal.example.com/v1",
            "processing": ["any"], "api_key": {"env": variable},
            "models": [{"name": "llama", "model": "llama-3",
                        "price": {"input_per_million": 0, "output_per_million": 0}}]}]
    assert problems(change) == [(
        "openai_compatible[0].api_key.env",
        f"{variable} is set by the platform itself (reserved: {RESERVED}); name another "
        "variable")]


def test_two_secrets_that_map_to_one_variable_are_refused_at_the_second() -> None:
    assert problems(lambda d: d["tenants"][1].update(
        api_key={"secret": "skyrelay/tenants/web_app"})) == [(
            "tenants[1].api_key",
            "secret skyrelay/tenants/web_app reaches the gateway as variable "
            "SKYRELAY_SECRET_SKYRELAY_TENANTS_WEB_APP, like the different reference at "
            "tenants[0].api_key; names must differ in more than case and punctuation")]


# --- zones by ID ------------------------------------------------------------------------------

LB_ZONES = ("the gateway runs here and its load balancer needs subnets in at least 2 "
            "availability zones; ")


def test_a_gateway_region_with_one_zone_id_is_told_to_name_two() -> None:
    assert problems(lambda d: d["aws"]["regions"]["us-east-1"].update(
        zone_ids=["use1-az1"])) == [
            ("aws.regions.us-east-1.zone_ids", LB_ZONES + "name 2 or more zone_ids")]


def test_a_gateway_region_with_az_count_one_is_told_to_raise_it() -> None:
    def change(doc: dict[str, Any]) -> None:
        region = doc["aws"]["regions"]["us-east-1"]
        region.pop("zone_ids", None)
        region["az_count"] = 1
    assert problems(change) == [
        ("aws.regions.us-east-1.az_count", LB_ZONES + "set az_count to 2 or more")]


def test_a_zone_id_in_a_region_the_table_does_not_know_says_none_are_known(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A region AWS opened after the zone table was last checked: the spec's zone IDs cannot
    # be judged, and the message says so instead of listing nothing.
    monkeypatch.delitem(aws_zones.AWS_ZONE_IDS, "eu-central-1")
    found = problems(lambda d: d["aws"]["regions"]["eu-central-1"].update(
        zone_ids=["euc1-az1", "euc1-az2"]))
    assert ("aws.regions.eu-central-1.zone_ids[0]",
            "'euc1-az1' is not an availability zone ID of eu-central-1 (expected one of none "
            f"known; source: {aws_zones.SOURCE})") in found


def test_a_private_vpn_account_with_public_access_on_is_refused() -> None:
    # The path is private only if the public endpoint answers no one.
    def change(doc: dict[str, Any]) -> None:
        doc["azure"]["accounts"][0]["gateway_path"] = "private-vpn"
    found = problems(change)
    assert [path for path, _ in found] == ["azure.accounts[0].public_network_access"]
    assert "set public_network_access: disabled" in found[0][1]


def test_a_private_vpn_account_with_public_access_off_is_accepted() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["azure"]["accounts"][0].update(gateway_path="private-vpn",
                                           public_network_access="disabled")
    assert problems(change) == []


def test_a_second_private_vpn_account_is_refused() -> None:
    def change(doc: dict[str, Any]) -> None:
        first = doc["azure"]["accounts"][0]
        first.update(gateway_path="private-vpn", public_network_access="disabled")
        second = copy.deepcopy(first)
        second.update(name="acme-openai-two", vnet_cidr="10.101.0.0/24")
        second.pop("custom_subdomain", None)
        doc["azure"]["accounts"].append(second)
    found = problems(change)
    assert [path for path, _ in found] == ["azure.accounts[1].gateway_path"], found
    assert "only one Azure account per platform" in found[0][1]
