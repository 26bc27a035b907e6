"""The AWS rules as pure functions over synthesized CloudFormation template dicts.

Each ``check_*`` takes a template (``{"Resources": {logical_id: {...}}}``) and a stack name
and returns the violations it finds; resources are named ``stack/LogicalId``.

Example::

    from skyrelay.policies.aws_templates import check_template
    bad = {"Resources": {"L": {"Type": "AWS::Logs::LogGroup", "Properties": {}}}}
    assert check_template(bad, "s")[0].rule == "SKY-AWS-003"
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from skyrelay.policies import aws_vpn_rules
from skyrelay.policies.rules import BEDROCK_RESOURCELESS_ACTIONS, Violation

Template = dict[str, Any]
INVOKE_ACTIONS = ("bedrock:invokemodel", "bedrock:invokemodelwithresponsestream",
                  "bedrock:converse", "bedrock:conversestream")


def _resources(template: Template, rtype: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for lid, res in (template.get("Resources") or {}).items():
        if res.get("Type") == rtype:
            yield lid, res


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement of policies and inline role policies, with its logical id."""
    for lid, res in (template.get("Resources") or {}).items():
        props = res.get("Properties") or {}
        docs: list[Any] = []
        if res.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            docs.append(props.get("PolicyDocument"))
        elif res.get("Type") == "AWS::IAM::Role":
            docs += [p.get("PolicyDocument") for p in props.get("Policies") or []]
        for doc in docs:
            for st in _as_list((doc or {}).get("Statement") or []):
                if isinstance(st, dict) and st.get("Effect", "Allow") == "Allow":
                    yield lid, st


def _bedrock_actions(st: dict[str, Any]) -> list[str]:
    return [a for a in _as_list(st.get("Action")) if isinstance(a, str)
            and (a.lower().startswith("bedrock:") or a == "*")]


def check_bedrock_wildcards(template: Template, stack: str) -> list[Violation]:
    """SKY-AWS-001: no ``bedrock:*`` and no Bedrock action on Resource ``*`` (allow-list aside)."""
    out = []
    allowed = {a.lower() for a in BEDROCK_RESOURCELESS_ACTIONS}
    for lid, st in _statements(template):
        actions = _bedrock_actions(st)
        wild = [a for a in actions if "*" in a]
        if wild:
            out.append(Violation("SKY-AWS-001", f"{stack}/{lid}",
                                 f"wildcard Bedrock action {', '.join(wild)}"))
            continue
        if "*" in _as_list(st.get("Resource")):
            bad = [a for a in actions if a.lower() not in allowed]
            if bad:
                out.append(Violation("SKY-AWS-001", f"{stack}/{lid}",
                                     f"{', '.join(bad)} allowed on Resource '*'"))
    return out


def _has_source_vpce(cond: Any) -> bool:
    if not isinstance(cond, dict):
        return False
    return any(isinstance(body, dict) and any(k.lower() == "aws:sourcevpce" for k in body)
               for op, body in cond.items() if op.startswith("StringEquals"))


def _condition_keys(cond: Any) -> set[str]:
    """Lower-cased keys of every ``StringEquals``/``ArnEquals``-style block of a condition."""
    if not isinstance(cond, dict):
        return set()
    return {k.lower() for op, body in cond.items() if isinstance(body, dict)
            and op.split(":")[-1].startswith(("StringEquals", "ArnEquals", "ArnLike"))
            for k in body}


def check_bedrock_vpce(template: Template, stack: str) -> list[Violation]:
    """SKY-AWS-002: every Bedrock invoke permission carries an ``aws:SourceVpce`` condition.

    Two deliberate forms are accepted: an explicit cross-region grant, pinned to the other
    region with ``aws:RequestedRegion`` (``gateway.cross_region_bedrock``; SKY-AWS-012 flags
    it), and foundation models conditioned on ``bedrock:InferenceProfileArn``, reachable
    only through that profile, whose own grant is judged here.
    """
    out = []
    for lid, st in _statements(template):
        invoke = [a for a in _bedrock_actions(st) if a.lower() in INVOKE_ACTIONS]
        keys = _condition_keys(st.get("Condition"))
        if invoke and not _has_source_vpce(st.get("Condition")) and not keys & {
                "aws:requestedregion", "bedrock:inferenceprofilearn"}:
            out.append(Violation("SKY-AWS-002", f"{stack}/{lid}",
                                 f"{', '.join(invoke)} not conditioned on aws:SourceVpce"))
    return out


def check_bedrock_outside_vpc(template: Template, stack: str) -> list[Violation]:
    """SKY-AWS-012 (warning): the deliberate forms of Bedrock invoke without
    ``aws:SourceVpce`` that SKY-AWS-002 accepts - traffic that leaves the VPC (the spec's
    ``gateway.cross_region_bedrock``). A grant with neither is SKY-AWS-002's error."""
    out = []
    for lid, st in _statements(template):
        invoke = [a for a in _bedrock_actions(st) if a.lower() in INVOKE_ACTIONS]
        keys = _condition_keys(st.get("Condition"))
        deliberate = keys & {"aws:requestedregion", "bedrock:inferenceprofilearn"}
        if invoke and deliberate and not _has_source_vpce(st.get("Condition")):
            how = ("pinned to another region (aws:RequestedRegion)"
                   if "aws:requestedregion" in keys else "only through an inference profile")
            out.append(Violation("SKY-AWS-012", f"{stack}/{lid}",
                                 f"Bedrock invoke outside the VPC endpoint, {how}"))
    return out


#: ELB policies that negotiate TLS 1.2 or newer only (CKV_AWS_103); RECOMMENDED_TLS is
#: ELBSecurityPolicy-TLS13-1-2-2021-06
#: (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
_MODERN_TLS = ("ELBSecurityPolicy-TLS13-", "ELBSecurityPolicy-TLS-1-2-",
               "ELBSecurityPolicy-FS-1-2-")


def check_listeners(template: Template, stack: str) -> list[Violation]:
    """SKY-AWS-010: load balancer listeners use HTTPS with a TLS 1.2+ policy (CKV_AWS_2,
    CKV_AWS_103); SKY-AWS-011 (warning): a plain-HTTP listener, the spec's documented
    ``gateway.tls.certificate: plain-http`` opt-out."""
    out = []
    for lid, res in _resources(template, "AWS::ElasticLoadBalancingV2::Listener"):
        props = res.get("Properties") or {}
        protocol = props.get("Protocol")
        if protocol == "HTTP":
            redirect = any((a.get("Type") == "redirect") for a in props.get("DefaultActions")
                           or [] if isinstance(a, dict))
            if not redirect:
                out.append(Violation("SKY-AWS-011", f"{stack}/{lid}",
                                     f"plain HTTP on port {props.get('Port')}: tenant keys and "
                                     "prompts cross the network in clear text"))
        elif protocol == "HTTPS":
            policy = props.get("SslPolicy")
            if not isinstance(policy, str) or not policy.startswith(_MODERN_TLS):
                out.append(Violation("SKY-AWS-010", f"{stack}/{lid}",
                                     f"HTTPS listener with TLS policy {policy or '(default)'}; "
                                     "use one of TLS 1.2+ only "
                                     "(ELBSecurityPolicy-TLS13-1-2-2021-06)"))
    return out


def check_log_groups(template: Template, stack: str) -> list[Violation]:
    """SKY-AWS-003: every log group has ``KmsKeyId`` and ``RetentionInDays``."""
    out = []
    for lid, res in _resources(template, "AWS::Logs::LogGroup"):
        props = res.get("Properties") or {}
        missing = [k for k in ("KmsKeyId", "RetentionInDays") if not props.get(k)]
        if missing:
            out.append(Violation("SKY-AWS-003", f"{stack}/{lid}",
                                 f"log group without {' and '.join(missing)}"))
    return out


def _access_log_buckets(template: Template) -> set[str]:
    """Logical ids of buckets an ALB writes access logs to (ALB supports SSE-S3 only)."""
    out = set()
    for _, res in _resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer"):
        for attr in (res.get("Properties") or {}).get("LoadBalancerAttributes") or []:
            value = attr.get("Value")
            if (attr.get("Key") == "access_logs.s3.bucket" and isinstance(value, dict)
                    and "Ref" in value):
                out.add(value["Ref"])
    return out


def _denies_insecure_transport(template: Template, bucket: str) -> bool:
    for _, res in _resources(template, "AWS::S3::BucketPolicy"):
        props = res.get("Properties") or {}
        if props.get("Bucket") != {"Ref": bucket}:
            continue
        for st in _as_list((props.get("PolicyDocument") or {}).get("Statement") or []):
            cond = json.dumps(st.get("Condition") or {}).lower()
            if st.get("Effect") == "Deny" and '"aws:securetransport": "false"' in cond:
                return True
    return False


def check_buckets(template: Template, stack: str) -> list[Violation]:
    """SKY-AWS-004: buckets KMS-encrypted (ALB log buckets: SSE-S3), SSL-only, retained."""
    out = []
    alb_logs = _access_log_buckets(template)
    for lid, res in _resources(template, "AWS::S3::Bucket"):
        props = res.get("Properties") or {}
        rules = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or []
        algos = {(r.get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm") for r in rules}
        ok = {"aws:kms", "aws:kms:dsse"} | ({"AES256"} if lid in alb_logs else set())
        problems = []
        if not algos or not algos <= ok:
            problems.append("not KMS-encrypted")
        if not _denies_insecure_transport(template, lid):
            problems.append("bucket policy does not deny aws:SecureTransport false")
        if res.get("DeletionPolicy") != "Retain":
            problems.append("DeletionPolicy is not Retain")
        out += [Violation("SKY-AWS-004", f"{stack}/{lid}", p) for p in problems]
    return out


def _flatten(value: Any) -> str:
    """A DefinitionString as text; CloudFormation intrinsics become placeholders."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(p if isinstance(p, str) else "X" for p in parts)
    return json.dumps(value)


def _training_tasks(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in (definition.get("States") or {}).items():
        if "sagemaker:createTrainingJob" in str(state.get("Resource", "")):
            yield name, state.get("Parameters") or {}
        for branch in state.get("Branches") or []:
            yield from _training_tasks(branch)
        if isinstance(state.get("Iterator") or state.get("ItemProcessor"), dict):
            yield from _training_tasks(state.get("Iterator") or state.get("ItemProcessor"))


def check_training_isolation(template: Template, stack: str) -> list[Violation]:
    """SKY-AWS-005: SageMaker training tasks set EnableNetworkIsolation and a VpcConfig."""
    out = []
    for lid, res in _resources(template, "AWS::StepFunctions::StateMachine"):
        props = res.get("Properties") or {}
        raw = props.get("Definition") or _flatten(props.get("DefinitionString") or "{}")
        try:
            definition = raw if isinstance(raw, dict) else json.loads(raw)
        except json.JSONDecodeError:
            out.append(Violation("SKY-AWS-005", f"{stack}/{lid}", "definition is not readable"))
            continue
        for name, params in _training_tasks(definition):
            vpc = params.get("VpcConfig") or {}
            if params.get("EnableNetworkIsolation") is not True:
                out.append(Violation("SKY-AWS-005", f"{stack}/{lid}/{name}",
                                     "training job without EnableNetworkIsolation true"))
            if not vpc.get("Subnets") or not vpc.get("SecurityGroupIds"):
                out.append(Violation("SKY-AWS-005", f"{stack}/{lid}/{name}",
                                     "training job without VpcConfig subnets and security groups"))
    return out


def check_region(region: str, allowed: frozenset[str], stack: str) -> list[Violation]:
    """SKY-AWS-006: the stack's region is inside the union of the classifications' allowed sets."""
    from skyrelay import regions

    if regions.ANY in allowed or f"aws:{region}" in allowed:
        return []
    return [Violation("SKY-AWS-006", stack,
                      f"region {region} is outside every compliance classification")]


TEMPLATE_CHECKS: tuple[Callable[[Template, str], list[Violation]], ...] = (
    check_bedrock_wildcards, check_bedrock_vpce, check_log_groups, check_buckets,
    check_training_isolation, check_listeners, check_bedrock_outside_vpc,
    aws_vpn_rules.check_vpn_bgp, aws_vpn_rules.check_vpn_keys,
)


def check_template(template: Template, stack: str) -> list[Violation]:
    """Run every template rule over one template."""
    return [v for check in TEMPLATE_CHECKS for v in check(template, stack)]
