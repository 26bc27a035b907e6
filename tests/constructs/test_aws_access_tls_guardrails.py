"""BedrockModelAccess, PrivateCaCertificate and ModelGuardrail used alone (no spec).

What each guards: foundation models reached through a profile only through it (issue 20,
failure 6); a grant outside the VPC endpoint pinned to the region it is for; the private
CA chain CloudFormation needs before a certificate can be issued; guardrail filters Bedrock
accepts, with a published version and a grant on exactly that guardrail.
"""

from __future__ import annotations

from typing import Any

import pytest

ACCOUNT = "111122223333"
PROFILE = f"arn:aws:bedrock:eu-west-1:{ACCOUNT}:inference-profile/eu.amazon.nova-lite-v1:0"
FMS = [f"arn:aws:bedrock:{r}::foundation-model/amazon.nova-lite-v1:0"
       for r in ("eu-west-1", "eu-central-1", "eu-west-3")]
DIRECT = "arn:aws:bedrock:eu-west-1::foundation-model/amazon.titan-embed-text-v2:0"


def _stack() -> Any:
    import aws_cdk as cdk

    return cdk.Stack(cdk.App(), "S", env=cdk.Environment(account=ACCOUNT, region="eu-west-1"))


def _statements(stack: Any) -> list[dict[str, Any]]:
    from aws_cdk.assertions import Template

    template = Template.from_stack(stack).to_json()
    return [st for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
            for st in r["Properties"]["PolicyDocument"]["Statement"]]


def test_profile_routed_models_carry_the_inference_profile_condition() -> None:
    from aws_cdk import aws_iam as iam

    from skyrelay.constructs.bedrock_access import BedrockModelAccess

    stack = _stack()
    access = BedrockModelAccess(stack, "A", foundation_model_arns=[DIRECT],
                                inference_profile_arns=[PROFILE],
                                profile_foundation_model_arns={PROFILE: FMS},
                                vpc_endpoint_id="vpce-0123456789abcdef0")
    access.grant_invoke(iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal()))
    statements = _statements(stack)
    direct = [s for s in statements if DIRECT in s["Resource"]]
    routed = [s for s in statements if s["Resource"] == FMS]
    assert len(direct) == 1 and PROFILE in direct[0]["Resource"]
    assert direct[0]["Condition"] == {"StringEquals": {"aws:SourceVpce": "vpce-0123456789abcdef0"}}
    # The documented form: StringEquals bedrock:InferenceProfileArn = the profile.
    assert routed and routed[0]["Condition"] == {"StringEquals": {
        "aws:SourceVpce": "vpce-0123456789abcdef0", "bedrock:InferenceProfileArn": PROFILE}}
    assert not any(fm in direct[0]["Resource"] for fm in FMS)


def test_outside_the_vpc_the_grant_is_pinned_to_its_region() -> None:
    from aws_cdk import aws_iam as iam

    from skyrelay.constructs.bedrock_access import BedrockModelAccess

    stack = _stack()
    BedrockModelAccess(stack, "A", foundation_model_arns=[DIRECT],
                       inference_profile_arns=[PROFILE],
                       profile_foundation_model_arns={PROFILE: FMS},
                       requested_region="eu-west-1").grant_invoke(
        iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal()))
    conditions = [s["Condition"] for s in _statements(stack)]
    assert {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}} in conditions
    assert {"StringEquals": {"bedrock:InferenceProfileArn": PROFILE}} in conditions
    assert not any("aws:SourceVpce" in str(c) for c in conditions)
    with pytest.raises(ValueError, match="not both"):
        BedrockModelAccess(stack, "B", foundation_model_arns=[DIRECT], vpc_endpoint_id="v",
                           requested_region="eu-west-1")
    with pytest.raises(ValueError, match="not listed in inference_profile_arns"):
        BedrockModelAccess(stack, "C", foundation_model_arns=[],
                           profile_foundation_model_arns={PROFILE: FMS})


def test_private_ca_chain_in_the_order_cloudformation_needs() -> None:
    from aws_cdk.assertions import Template

    from skyrelay.constructs.private_certificate import PrivateCaCertificate

    stack = _stack()
    PrivateCaCertificate(stack, "Tls", domain_name="gateway.example.internal")
    res = Template.from_stack(stack).to_json()["Resources"]
    by_type = {r["Type"]: (k, r) for k, r in res.items()}
    ca_id, ca = by_type["AWS::ACMPCA::CertificateAuthority"]
    assert (ca["Properties"]["Type"], ca["Properties"]["KeyAlgorithm"]) == ("ROOT", "RSA_2048")
    root_id, root = by_type["AWS::ACMPCA::Certificate"]
    assert root["Properties"]["TemplateArn"] == "arn:aws:acm-pca:::template/RootCACertificate/V1"
    assert root["Properties"]["CertificateSigningRequest"] == {
        "Fn::GetAtt": [ca_id, "CertificateSigningRequest"]}
    act_id, act = by_type["AWS::ACMPCA::CertificateAuthorityActivation"]
    assert act["Properties"]["Certificate"] == {"Fn::GetAtt": [root_id, "Certificate"]}
    _, cert = by_type["AWS::CertificateManager::Certificate"]
    assert cert["Properties"]["CertificateAuthorityArn"] == {"Fn::GetAtt": [ca_id, "Arn"]}
    # Issued only once the CA is active; ACM may renew it.
    assert act_id in cert["DependsOn"]
    _, permission = by_type["AWS::ACMPCA::Permission"]
    assert permission["Properties"]["Principal"] == "acm.amazonaws.com"
    with pytest.raises(ValueError, match="at most 64"):
        PrivateCaCertificate(stack, "Long", domain_name="a" * 60 + ".example.internal")


def test_guardrail_with_version_key_and_a_grant_on_exactly_it() -> None:
    from aws_cdk import aws_iam as iam
    from aws_cdk.assertions import Template

    from skyrelay.constructs.guardrails import ContentFilter, ModelGuardrail

    stack = _stack()
    guardrail = ModelGuardrail(stack, "G", name="demo-strict", filters=[
        ContentFilter("HATE", "HIGH", "MEDIUM"), ContentFilter("PROMPT_ATTACK", "HIGH", "NONE")])
    guardrail.grant_apply(iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal()))
    template = Template.from_stack(stack).to_json()
    res = template["Resources"]
    (gid,) = [k for k, r in res.items() if r["Type"] == "AWS::Bedrock::Guardrail"]
    filters = res[gid]["Properties"]["ContentPolicyConfig"]["FiltersConfig"]
    assert filters[0] == {"Type": "HATE", "InputStrength": "HIGH", "OutputStrength": "MEDIUM",
                          "InputAction": "BLOCK", "OutputAction": "BLOCK"}
    (version,) = [r for r in res.values() if r["Type"] == "AWS::Bedrock::GuardrailVersion"]
    assert version["Properties"]["GuardrailIdentifier"] == {"Fn::GetAtt": [gid, "GuardrailId"]}
    actions = {s["Action"] if isinstance(s["Action"], str) else tuple(s["Action"]):
               s["Resource"] for s in _statements(stack)}
    assert actions["bedrock:ApplyGuardrail"] == {"Fn::GetAtt": [gid, "GuardrailArn"]}
    assert "kms:Decrypt" in actions
    # A changed definition is a new version resource (a new number callers can pin).
    other = ModelGuardrail(_stack(), "G", name="demo-strict", filters=[
        ContentFilter("HATE", "LOW", "MEDIUM")])
    assert other.definition_digest != guardrail.definition_digest


@pytest.mark.parametrize(("args", "message"), [
    (("HATRED", "HIGH", "HIGH"), "filter type 'HATRED'"),
    (("HATE", "EXTREME", "HIGH"), "strength 'EXTREME'"),
    (("PROMPT_ATTACK", "HIGH", "HIGH"), "output_strength must be NONE"),
])
def test_guardrail_filters_bedrock_would_refuse_are_refused(args: tuple[str, str, str],
                                                            message: str) -> None:
    from skyrelay.constructs.guardrails import ContentFilter

    with pytest.raises(ValueError, match=message):
        ContentFilter(*args)
