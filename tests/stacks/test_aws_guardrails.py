"""The spec's content filters as Bedrock Guardrails (issue 20: guardrails on both clouds).

One definition feeds the Azure RAI policy and, in every region with Bedrock models, an
``AWS::Bedrock::Guardrail`` plus a published ``AWS::Bedrock::GuardrailVersion``; the gateway
may apply exactly that guardrail and reads its id and version from its config.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from skyrelay.views.guardrails import STRENGTH, guardrail_filters

REGIONS = ["us-east-1", "eu-central-1"]


@pytest.mark.parametrize("region", REGIONS)
def test_each_content_filter_is_a_guardrail_with_a_version(platform: Any, cfn: Any,
                                                           region: str) -> None:
    template = platform.template("bedrock", region)
    guardrails = cfn.resources(template, "AWS::Bedrock::Guardrail")
    versions = cfn.resources(template, "AWS::Bedrock::GuardrailVersion")
    filters = platform.spec.azure.content_filters
    assert len(guardrails) == len(filters) == len(versions) == 1
    (logical_id, guardrail), = guardrails.items()
    props = guardrail["Properties"]
    assert props["Name"] == f"acme-ai-{filters[0].name}"
    # A customer-managed key encrypts the guardrail (secure default).
    assert "Fn::GetAtt" in props["KmsKeyArn"]
    (version,) = versions.values()
    # The version snapshots this guardrail: callers pin a number, never the moving DRAFT.
    assert version["Properties"]["GuardrailIdentifier"] == {
        "Fn::GetAtt": [logical_id, "GuardrailId"]}
    assert version["DeletionPolicy"] == "Retain"


def test_filter_strengths_follow_the_cited_mapping(platform: Any, cfn: Any) -> None:
    # The default filter: severity_threshold Low (strictest on Azure), violence completion
    # Medium. Azure's scale names the lowest severity filtered, Bedrock's how much is
    # filtered, so Low -> HIGH and Medium -> MEDIUM.
    template = platform.template("bedrock", "eu-central-1")
    (guardrail,) = cfn.resources(template, "AWS::Bedrock::Guardrail").values()
    got = {f["Type"]: (f["InputStrength"], f["OutputStrength"], f["InputAction"])
           for f in guardrail["Properties"]["ContentPolicyConfig"]["FiltersConfig"]}
    assert got["HATE"] == ("HIGH", "HIGH", "BLOCK")
    assert got["VIOLENCE"] == ("HIGH", "MEDIUM", "BLOCK")
    assert got["PROMPT_ATTACK"] == ("HIGH", "NONE", "BLOCK")  # prompts only
    assert set(got) == {"HATE", "SEXUAL", "VIOLENCE", "INSULTS", "MISCONDUCT", "PROMPT_ATTACK"}
    expected = {g.type: (g.input_strength, g.output_strength)
                for g in guardrail_filters(platform.spec.azure.content_filters[0])}
    assert {k: v[:2] for k, v in got.items()} == expected
    assert STRENGTH == {"Low": "HIGH", "Medium": "MEDIUM", "High": "LOW", "off": "NONE"}


@pytest.mark.parametrize("region", REGIONS)
def test_the_gateway_may_apply_its_regions_guardrail_and_knows_its_id(
        platform: Any, cfn: Any, region: str) -> None:
    template = platform.template("gateway", region)
    applies = [st for _, st in cfn.policy_statements(template)
               if "bedrock:ApplyGuardrail" in cfn.as_list(st.get("Action", []))]
    assert len(applies) == 1
    resource = json.dumps(applies[0]["Resource"])
    # Exactly the guardrail of this region's Bedrock stack (an export of it), no wildcard.
    assert f"acme-ai-{region}-bedrock" in resource and "*" not in resource
    (param,) = [r for r in cfn.resources(template, "AWS::SSM::Parameter").values()]
    value = json.dumps(param["Properties"]["Value"])
    assert '\\"guardrails\\":{\\"strict\\":{\\"' + region in value
    assert "GuardrailId" in value and "Version" in value
