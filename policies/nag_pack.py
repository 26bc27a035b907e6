"""A cdk-nag (v3) NagPack running the AWS template rules on each CfnResource at synth.

Each CfnResource is rendered into a small CloudFormation template (itself, plus for buckets the
bucket policies and load balancers of its stack) and passed to
:mod:`skyrelay.policies.aws_templates`; a violation becomes a finding
``Skyrelay-SKY-AWS-00N`` on the resource's construct path.

Example::

    import aws_cdk as cdk
    from skyrelay.policies.nag_pack import SkyrelayChecks
    app = cdk.App()
    report = SkyrelayChecks(app).validate_scope(app)
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import jsii
from cdk_nag import IApplyRule, NagMessageLevel, NagPack, NagRuleCompliance

from skyrelay.policies import aws_templates, aws_vpn_rules
from skyrelay.policies.rules import RULES

PACK_NAME = "Skyrelay"
# Template rules that need no context beyond the resource itself (SKY-AWS-006 is spec-level).
_CHECKS = {
    "SKY-AWS-001": aws_templates.check_bedrock_wildcards,
    "SKY-AWS-002": aws_templates.check_bedrock_vpce,
    "SKY-AWS-003": aws_templates.check_log_groups,
    "SKY-AWS-004": aws_templates.check_buckets,
    "SKY-AWS-005": aws_templates.check_training_isolation,
    "SKY-AWS-010": aws_templates.check_listeners,
    "SKY-AWS-011": aws_templates.check_listeners,
    "SKY-AWS-012": aws_templates.check_bedrock_outside_vpc,
    "SKY-AWS-013": aws_vpn_rules.check_vpn_bgp,
    "SKY-AWS-014": aws_vpn_rules.check_vpn_keys,
}
_BUCKET_CONTEXT = ("AWS::S3::BucketPolicy", "AWS::ElasticLoadBalancingV2::LoadBalancer")


def _render(node: cdk.CfnResource) -> tuple[str, dict[str, Any]]:
    """(logical id, CloudFormation resource dict) of one CfnResource, intrinsics resolved."""
    stack = cdk.Stack.of(node)
    entry: dict[str, Any] = {
        "Type": node.cfn_resource_type,
        "Properties": stack.resolve(node._render_properties(stack.resolve(node._cfn_properties))),
    }
    policy = node.cfn_options.deletion_policy
    if policy is not None:
        entry["DeletionPolicy"] = {cdk.CfnDeletionPolicy.RETAIN: "Retain",
                                   cdk.CfnDeletionPolicy.DELETE: "Delete",
                                   cdk.CfnDeletionPolicy.SNAPSHOT: "Snapshot"}.get(policy, "Other")
    return str(stack.resolve(node.logical_id)), entry


def resource_template(node: cdk.CfnResource) -> dict[str, Any]:
    """The template a rule sees for ``node`` (buckets also see their stack's policies/ALBs)."""
    lid, entry = _render(node)
    resources = {lid: entry}
    if node.cfn_resource_type == "AWS::S3::Bucket":
        for child in cdk.Stack.of(node).node.find_all():
            if isinstance(child, cdk.CfnResource) and child.cfn_resource_type in _BUCKET_CONTEXT:
                clid, centry = _render(child)
                resources[clid] = centry
    return {"Resources": resources}


@jsii.implements(IApplyRule)
class _Rule:
    """One rule applied to one resource, in the shape cdk-nag's ``applyRule`` reads."""

    def __init__(self, rule_id: str, node: cdk.CfnResource, template: dict[str, Any]):
        self._rule_id = rule_id
        self._node = node
        self._template = template
        self._found: list[str] = []

    @property
    def node(self) -> cdk.CfnResource:
        return self._node

    @property
    def level(self) -> NagMessageLevel:
        return (NagMessageLevel.ERROR if RULES[self._rule_id].severity == "error"
                else NagMessageLevel.WARN)

    @property
    def explanation(self) -> str:
        return RULES[self._rule_id].description

    @property
    def info(self) -> str:
        found = "; ".join(self._found) or RULES[self._rule_id].description
        return f"{self._rule_id}: {found}"

    @property
    def rule_suffix_override(self) -> str:
        return self._rule_id

    def rule(self, node: cdk.CfnResource) -> NagRuleCompliance:
        """Run the template rule; cdk-nag records a finding on NON_COMPLIANT."""
        stack = cdk.Stack.of(node).stack_name
        self._found = [v.message for v in _CHECKS[self._rule_id](self._template, stack)
                       if v.rule == self._rule_id
                       and v.resource.split("/")[1] == str(cdk.Stack.of(node).resolve(
                           node.logical_id))]
        return NagRuleCompliance.NON_COMPLIANT if self._found else NagRuleCompliance.COMPLIANT


class SkyrelayChecks(NagPack):
    """The platform's AWS rules (SKY-AWS-001..005, 010..014) as a cdk-nag v3 pack."""

    def __init__(self, scope: Any = None) -> None:
        super().__init__(scope)
        self._pack_name = PACK_NAME

    @property
    def name(self) -> str:
        """The plugin name in the CDK validation report."""
        return PACK_NAME

    @jsii.member(jsii_name="checkResource")
    def _check_resource(self, node: cdk.CfnResource) -> None:
        rtype = node.cfn_resource_type
        if not (rtype.startswith("AWS::IAM::") or rtype in (
                "AWS::Logs::LogGroup", "AWS::S3::Bucket", "AWS::StepFunctions::StateMachine",
                "AWS::ElasticLoadBalancingV2::Listener", aws_vpn_rules.VPN_CONNECTION)):
            return
        template = resource_template(node)
        for rule_id in _CHECKS:
            rule = _Rule(rule_id, node, template)
            self._apply_rule(rule)  # type: ignore[arg-type]  # read-only props suffice for jsii
