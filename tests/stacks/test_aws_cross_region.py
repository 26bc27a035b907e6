"""The explicit choices of issue 20 in the stacks: cross-region Bedrock and plain HTTP.

``gateway.cross_region_bedrock: {eu-central-1: [us-east-1]}`` must grant the eu gateway
exactly us-east-1's model ARNs on the path that exists (no ``aws:SourceVpce``: the calls go
to us-east-1's public endpoint through NAT), pinned to that region; ``skyrelay check``
flags it (SKY-AWS-012) without calling it a violation of the endpoint rule (SKY-AWS-002).
``gateway.tls.certificate: plain-http`` gives an HTTP listener that check flags
(SKY-AWS-011), while the default gives none of these findings.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay.policies.aws_templates import check_template
from skyrelay.spec import parse_spec_text
from skyrelay.views.bedrock_arns import bedrock_invoke_arns

REPO = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((REPO / "examples" / "platform.yaml").read_text())


@pytest.fixture(scope="module")
def eu_gateway(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import aws_cdk as cdk

    from skyrelay.stacks.platform import add_region_stacks

    doc = copy.deepcopy(BASE)
    doc["gateway"]["cross_region_bedrock"] = {"eu-central-1": ["us-east-1"]}
    doc["gateway"]["tls"] = {"certificate": "plain-http",
                             "plain_http_reason": "TLS ends at a service mesh sidecar here"}
    spec = parse_spec_text(yaml.safe_dump(doc, sort_keys=False), "spec.yaml")
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cross")))
    made = add_region_stacks(app, spec, "eu-central-1")
    assert made.gateway is not None
    template = app.synth().get_stack_by_name(made.gateway.stack_name).template
    return {"spec": spec, "template": template}


def _invoke_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [st for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            for st in r["Properties"]["PolicyDocument"]["Statement"]
            if "bedrock:InvokeModel" in st["Action"]]


def test_the_allowed_region_is_granted_outside_the_vpc_for_exactly_its_arns(
        eu_gateway: dict[str, Any], cfn: Any) -> None:
    spec, template = eu_gateway["spec"], eu_gateway["template"]
    outside = [st for st in _invoke_statements(template)
               if "aws:SourceVpce" not in json.dumps(st.get("Condition", {}))]
    assert outside, "no statement for the cross-region path"
    granted = sorted(a for st in outside for a in cfn.render(cfn.as_list(st["Resource"])))
    assert granted == sorted(bedrock_invoke_arns(spec, "us-east-1", "${AWS::AccountId}").all())
    for st in outside:
        equals = st["Condition"]["StringEquals"]
        assert equals.get("aws:RequestedRegion") == "us-east-1" or \
            "bedrock:InferenceProfileArn" in equals, st
    # The eu gateway's own region stays endpoint-only.
    inside = [st for st in _invoke_statements(template) if st not in outside]
    assert all("eu-central-1" in json.dumps(st["Resource"]) or ":foundation-model/" in
               json.dumps(st["Resource"]) for st in inside)


def test_check_flags_the_choices_without_calling_them_violations(
        eu_gateway: dict[str, Any], platform: Any) -> None:
    found = check_template(eu_gateway["template"], "gw")
    rules = sorted({v.rule for v in found})
    assert rules == ["SKY-AWS-011", "SKY-AWS-012"], found
    # The default spec's gateway: HTTPS with a modern policy, nothing outside the VPC.
    default = check_template(platform.template("gateway", "eu-central-1"), "gw")
    assert default == []


def test_the_listener_rules_on_hand_made_templates() -> None:
    def listener(protocol: str, policy: str | None = None) -> dict[str, Any]:
        props: dict[str, Any] = {"Protocol": protocol, "Port": 443}
        if policy:
            props["SslPolicy"] = policy
        return {"Resources": {"L": {"Type": "AWS::ElasticLoadBalancingV2::Listener",
                                    "Properties": props}}}

    assert [v.rule for v in check_template(listener("HTTPS", "ELBSecurityPolicy-2016-08"),
                                           "s")] == ["SKY-AWS-010"]
    assert [v.rule for v in check_template(listener("HTTPS"), "s")] == ["SKY-AWS-010"]
    assert check_template(listener("HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06"), "s") == []
    assert [v.rule for v in check_template(listener("HTTP"), "s")] == ["SKY-AWS-011"]
