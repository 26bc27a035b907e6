"""Reachability: validate refuses an account no gateway region can reach, naming the fix.

The gateway runs in AWS and reaches Azure through its NAT gateways, so only
``gateway-egress-only`` accounts (public endpoint, default deny, the NAT addresses allowed)
are reachable until a private path between the clouds exists. Also here: an explicit
``kind: OpenAI`` builds, with its drift risk stated in the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from skyrelay.cli import main
from skyrelay.pulumi.offline import run_offline, tree, tree_lines
from skyrelay.pulumi.type_tokens import ACCOUNT, PRIVATE_ZONE
from skyrelay.spec import SpecError, load_spec

WriteSpec = Callable[[Callable[[dict[str, Any]], None]], Path]


def _private(d: dict[str, Any]) -> None:
    d["azure"]["accounts"][0]["public_network_access"] = "disabled"


def test_a_private_only_account_is_refused_by_validate(write_spec: WriteSpec) -> None:
    spec = write_spec(_private)
    res = CliRunner().invoke(main, ["validate", str(spec)])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "azure.accounts[0].public_network_access: account 'acme-openai-swc' cannot be " \
           "reached from any gateway region (us-east-1, eu-central-1)" in text
    assert "set public_network_access: gateway-egress-only" in text


def test_the_path_that_works_and_no_gateway_yet_validate(write_spec: WriteSpec) -> None:
    # The default spec (gateway-egress-only) validates; so does the private account when no
    # gateway region exists yet (nothing has to reach it).
    load_spec(write_spec(lambda d: None))

    def no_gateway(d: dict[str, Any]) -> None:
        _private(d)
        d["gateway"]["regions"] = []

    assert load_spec(write_spec(no_gateway)).azure is not None


def test_the_field_defaults_to_the_reachable_path(write_spec: WriteSpec) -> None:
    spec = load_spec(write_spec(lambda d: d["azure"]["accounts"][0].pop(
        "public_network_access")))
    assert spec.azure is not None
    assert spec.azure.accounts[0].public_network_access == "gateway-egress-only"


def test_explicit_kind_openai_builds_and_the_plan_states_the_drift(
        write_spec: WriteSpec) -> None:
    graph = run_offline(write_spec(lambda d: d["azure"]["accounts"][0].update(kind="OpenAI")))
    (account,) = graph.of_type(ACCOUNT)
    assert account.inputs["kind"] == "OpenAI"
    assert "allowProjectManagement" not in account.inputs["properties"]
    # The third zone stays: after Microsoft's upgrade the Foundry endpoint needs it.
    assert len(graph.of_type(PRIVATE_ZONE)) == 3
    (line,) = [x for x in tree_lines(tree(graph)) if x.lstrip().startswith(
        "cognitiveservices:Account")]
    assert "DRIFT RISK: Microsoft upgrades eligible OpenAI accounts to Foundry" in line
    # No Foundry endpoint on a classic account (a None output is left out of the stack).
    assert graph.outputs["accounts"]["acme-openai-swc"].get("foundryEndpoint") is None


def test_a_bad_kind_in_the_spec_lists_the_valid_ones(write_spec: WriteSpec) -> None:
    try:
        load_spec(write_spec(lambda d: d["azure"]["accounts"][0].update(kind="Foundry")))
    except SpecError as err:
        assert "azure.accounts[0].kind" in str(err) and "'AIServices' or 'OpenAI'" in str(err)
    else:
        raise AssertionError("kind: Foundry was accepted")
