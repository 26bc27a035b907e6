"""The network-path rules of ``skyrelay check`` on hand-made templates: Bedrock invoke inside
or outside the VPC endpoint (SKY-AWS-002 / SKY-AWS-012) and the load balancer's listeners
(SKY-AWS-010 / SKY-AWS-011).

SKY-AWS-002 is the guarantee that a gateway's Bedrock traffic stays in the VPC; the two
deliberate exceptions (a grant pinned to another region, a foundation model reachable only
through an inference profile) must be accepted there *and* reported as a warning by
SKY-AWS-012, never silently. A condition that looks similar but pins nothing (a
``StringNotEquals``, a ``Null`` test) must stay an error. The listener rules keep tenant keys
and prompts off the wire in clear text. Each finding names its resource and what to change,
because the operator acts on the message alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from skyrelay.policies import aws_templates as aws

INVOKE = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
VPCE = {"aws:SourceVpce": "vpce-0123456789abcdef0"}
PROFILE = "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.amazon.nova-pro-v1:0"
PINNED = "Bedrock invoke outside the VPC endpoint, pinned to another region (aws:RequestedRegion)"
VIA_PROFILE = "Bedrock invoke outside the VPC endpoint, only through an inference profile"
NOT_IN_VPC = ("bedrock:InvokeModel, bedrock:InvokeModelWithResponseStream not conditioned on "
              "aws:SourceVpce")


def grant(condition: Any = None, actions: list[str] | None = None) -> dict[str, Any]:
    """A template with one IAM policy granting ``actions`` under ``condition``."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions or INVOKE,
                                 "Resource": "arn:aws:bedrock:us-east-1::foundation-model/x"}
    if condition is not None:
        statement["Condition"] = condition
    return {"Resources": {"GatewayTaskRolePolicy": {
        "Type": "AWS::IAM::Policy",
        "Properties": {"PolicyDocument": {"Statement": [statement]}}}}}


def findings(template: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(v.rule, v.resource, v.message) for v in aws.check_template(template, "gw")]


# --- Bedrock inside / outside the VPC endpoint ---------------------------------------------

def test_a_grant_pinned_to_another_region_is_accepted_and_flagged() -> None:
    """gateway.cross_region_bedrock's grant: no endpoint condition, the other region pinned.
    Not an SKY-AWS-002 error, but the warning that says traffic leaves the VPC."""
    assert findings(grant({"StringEquals": {"aws:RequestedRegion": "us-east-1"}})) == [
        ("SKY-AWS-012", "gw/GatewayTaskRolePolicy", PINNED)]


@pytest.mark.parametrize("operator", ["StringEquals", "ArnEquals", "ArnLike"])
def test_a_foundation_model_reachable_only_through_a_profile_is_accepted_and_flagged(
        operator: str) -> None:
    """A profile's foundation models are granted on ``bedrock:InferenceProfileArn`` (the
    profile's own grant is judged by SKY-AWS-002); any ARN or string equality operator."""
    assert findings(grant({operator: {"bedrock:InferenceProfileArn": PROFILE}})) == [
        ("SKY-AWS-012", "gw/GatewayTaskRolePolicy", VIA_PROFILE)]


def test_condition_keys_count_in_any_case() -> None:
    """IAM context key names are not case-sensitive ("aws:SourceIP is equivalent to
    AWS:SourceIp", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html):
    a template written in another case grants the same, so it is judged the same."""
    assert findings(grant({"StringEquals": {"AWS:REQUESTEDREGION": "us-east-1"}})) == [
        ("SKY-AWS-012", "gw/GatewayTaskRolePolicy", PINNED)]
    assert findings(grant({"ArnLike": {"Bedrock:InferenceProfileARN": PROFILE}})) == [
        ("SKY-AWS-012", "gw/GatewayTaskRolePolicy", VIA_PROFILE)]


def test_a_set_operator_qualifier_keeps_the_operator() -> None:
    """``ForAnyValue:StringEquals`` is still an equality on the key: judged as the operator
    after the qualifier."""
    assert findings(grant({"ForAnyValue:StringEquals": {"aws:RequestedRegion": "us-east-1"}})) \
        == [("SKY-AWS-012", "gw/GatewayTaskRolePolicy", PINNED)]


@pytest.mark.parametrize("condition", [
    # Every region but one: nothing is pinned, the call may go anywhere.
    {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}},
    # Only that the key is present.
    {"Null": {"aws:RequestedRegion": "false"}},
    {"ArnNotLike": {"bedrock:InferenceProfileArn": PROFILE}},
])
def test_conditions_that_pin_nothing_are_still_outside_the_vpc(condition: dict[str, Any]) -> None:
    assert findings(grant(condition)) == [
        ("SKY-AWS-002", "gw/GatewayTaskRolePolicy", NOT_IN_VPC)]


def test_a_pinned_grant_that_also_requires_the_endpoint_stays_inside() -> None:
    """With aws:SourceVpce the call cannot leave the VPC whatever else is pinned: no error
    and no warning (a warning here would teach operators to ignore SKY-AWS-012)."""
    condition = {"StringEquals": {**VPCE, "aws:RequestedRegion": "eu-central-1"}}
    assert findings(grant(condition)) == []
    assert findings(grant({"StringEquals": VPCE})) == []


def test_only_invoke_actions_count_as_traffic() -> None:
    """Reading a profile's definition sends no prompt anywhere: no warning for it, while the
    invoke actions of the same kind of grant are reported, each named."""
    read = ["bedrock:GetInferenceProfile", "bedrock:ListFoundationModels"]
    pinned = {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
    assert [f for f in findings(grant(pinned, read)) if f[0] == "SKY-AWS-012"] == []
    assert findings(grant(pinned, ["bedrock:Converse", "bedrock:ConverseStream"])) == [
        ("SKY-AWS-012", "gw/GatewayTaskRolePolicy", PINNED)]
    assert findings(grant(None, ["bedrock:Converse"])) == [
        ("SKY-AWS-002", "gw/GatewayTaskRolePolicy",
         "bedrock:Converse not conditioned on aws:SourceVpce")]


# --- listeners ------------------------------------------------------------------------------

def listener(**props: Any) -> dict[str, Any]:
    return {"Resources": {"HttpsListener": {"Type": "AWS::ElasticLoadBalancingV2::Listener",
                                            "Properties": props}}}


def test_a_plain_http_listener_names_its_port() -> None:
    assert findings(listener(Protocol="HTTP", Port=8080, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": {"Ref": "Tg"}}])) == [
        ("SKY-AWS-011", "gw/HttpsListener",
         "plain HTTP on port 8080: tenant keys and prompts cross the network in clear text")]


def test_an_http_listener_that_only_redirects_forwards_nothing_in_clear_text() -> None:
    """The usual port-80 listener answers every request with a redirect to HTTPS (listener
    action ``Type: redirect``,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-elasticloadbalancingv2-listener-action.html):
    nothing reaches the gateway over it, which is what the rule (like checkov's CKV_AWS_2)
    accepts; a listener that forwards or answers itself is flagged."""
    redirect = {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443",
                                                       "StatusCode": "HTTP_301"}}
    assert findings(listener(Protocol="HTTP", Port=80, DefaultActions=[redirect])) == []
    # A fixed response is not a redirect: the listener still takes requests in clear text.
    fixed = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
    assert [f[0] for f in findings(listener(Protocol="HTTP", Port=80,
                                            DefaultActions=[fixed]))] == ["SKY-AWS-011"]


@pytest.mark.parametrize(("policy", "shown"), [
    ("ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-2016-08"),
    (None, "(default)"),
], ids=["old-policy", "no-policy"])  # ids without "default": make mutate runs -k "not default"
def test_an_https_listener_with_an_old_tls_policy_names_it_and_the_fix(
        policy: str | None, shown: str) -> None:
    props: dict[str, Any] = {"Protocol": "HTTPS", "Port": 443}
    if policy is not None:
        props["SslPolicy"] = policy
    assert findings(listener(**props)) == [(
        "SKY-AWS-010", "gw/HttpsListener",
        f"HTTPS listener with TLS policy {shown}; use one of TLS 1.2+ only "
        "(ELBSecurityPolicy-TLS13-1-2-2021-06)")]
