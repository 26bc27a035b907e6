"""Least-privilege permission to invoke a fixed list of Bedrock models and inference profiles.

ARN forms (Amazon Bedrock user guide, "Prerequisites for inference profiles", "Geographic
cross-Region inference" and "Global cross-Region inference"):

* a foundation model has no account: ``arn:aws:bedrock:<region>::foundation-model/<id>``;
* a system (cross-Region) inference profile is account-scoped in the calling region:
  ``arn:aws:bedrock:<region>:<account>:inference-profile/<us.|eu.|global.…id>``, and invoking
  it also needs the foundation-model ARN in *every* region it may route to; a ``global.``
  profile needs the source-region foundation model and the region-less
  ``arn:aws:bedrock:::foundation-model/<id>``;
* an application inference profile: ``…:<account>:application-inference-profile/<id>``, plus
  whatever it was copied from.

The helpers below build each form; :class:`BedrockModelAccess` takes the finished lists.
Foundation models reached through a profile (``profile_foundation_model_arns``) get their
own statement per profile with the ``bedrock:InferenceProfileArn`` condition, so they are
callable only *through* that profile, as the user guide's example policy does
(https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html:
"To restrict user access such that they can invoke a foundation model only through an
inference profile, add a Condition field and use the [bedrock:]InferenceProfileArn
condition key ... in a statement that scopes to the foundation-model resources";
https://docs.aws.amazon.com/bedrock/latest/userguide/geographic-cross-region-inference.html
shows the same pattern with ``StringEquals`` on the profile ARN). Foundation models in
``foundation_model_arns`` are invoked directly (in-region, on demand) and carry no such
condition.
Converse is authorized as ``bedrock:InvokeModel`` and ConverseStream as
``bedrock:InvokeModelWithResponseStream``, so the grant always carries both actions on every
ARN: a role that can call a model can also stream from it.

Example::

    profile = inference_profile_arn("us-east-1", stack.account,
                                    "us.anthropic.claude-sonnet-4-20250514-v1:0")
    access = BedrockModelAccess(
        stack, "Claude",
        foundation_model_arns=[],
        inference_profile_arns=[profile],
        profile_foundation_model_arns={profile: [
            foundation_model_arn(r, "anthropic.claude-sonnet-4-20250514-v1:0")
            for r in ("us-east-1", "us-east-2", "us-west-2")]},
        vpc_endpoint_id=network.bedrock_runtime_endpoint.vpc_endpoint_id,
    )
    access.grant_invoke(task_role)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

#: The IAM actions behind InvokeModel, InvokeModelWithResponseStream, Converse, ConverseStream.
INVOKE_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")


def foundation_model_arn(region: str, model_id: str, partition: str = "aws") -> str:
    """The ARN of a foundation model; ``region=""`` gives the region-less (global) form."""
    return f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}"


def inference_profile_arn(region: str, account: str, profile_id: str,
                          partition: str = "aws") -> str:
    """The ARN of a system-defined (cross-Region) inference profile in ``region``."""
    return f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{profile_id}"


def application_inference_profile_arn(region: str, account: str, profile_id: str,
                                      partition: str = "aws") -> str:
    """The ARN of an application inference profile."""
    return f"arn:{partition}:bedrock:{region}:{account}:application-inference-profile/{profile_id}"


class BedrockModelAccess(Construct):
    """Invoke permission on exactly the given models and inference profiles.

    ``grant_invoke`` adds the permission to a role or user; :attr:`managed_policy` holds the
    same statements for roles created elsewhere. With ``vpc_endpoint_id`` the permission only
    holds for calls that arrive through that (bedrock-runtime) VPC endpoint; with
    ``requested_region`` instead (a deliberate choice: another region's models called over
    its public endpoint) only for requests to that region (``aws:RequestedRegion``).
    ``sid`` prefixes the statement ids.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        foundation_model_arns: Sequence[str],
        inference_profile_arns: Sequence[str] = (),
        application_inference_profile_arns: Sequence[str] = (),
        profile_foundation_model_arns: Mapping[str, Sequence[str]] | None = None,
        vpc_endpoint_id: str | None = None,
        requested_region: str | None = None,
        managed_policy_name: str | None = None,
        sid: str = "InvokeListedBedrockModels",
    ) -> None:
        super().__init__(scope, id)
        if vpc_endpoint_id and requested_region:
            raise ValueError("give vpc_endpoint_id (calls through the endpoint) or "
                             "requested_region (calls to that region's public endpoint), "
                             "not both")
        routed = {p: list(dict.fromkeys(fms))
                  for p, fms in (profile_foundation_model_arns or {}).items()}
        unknown = sorted(set(routed) - set(inference_profile_arns)
                         - set(application_inference_profile_arns))
        if unknown:
            raise ValueError(f"profile_foundation_model_arns names profiles not listed in "
                             f"inference_profile_arns: {unknown}")
        direct = [*inference_profile_arns, *application_inference_profile_arns,
                  *foundation_model_arns]
        arns = direct + [a for fms in routed.values() for a in fms]
        if not arns:
            raise ValueError("no model or profile ARNs given")
        for arn in arns:
            if not cdk.Token.is_unresolved(arn) and ("*" in arn or ":bedrock:" not in arn):
                raise ValueError(f"{arn!r} is not a Bedrock model or profile ARN (no wildcards)")
        for profile in inference_profile_arns:
            if not routed.get(profile) and not foundation_model_arns:
                raise ValueError("an inference profile also needs the foundation-model ARNs of "
                                 "the regions it routes to")
        self.resource_arns: list[str] = list(dict.fromkeys(arns))
        self._direct = list(dict.fromkeys(direct))
        self._routed = routed
        self._sid = sid
        self.conditions: dict[str, dict[str, str]] | None = (
            {"StringEquals": {"aws:SourceVpce": vpc_endpoint_id}} if vpc_endpoint_id else
            {"StringEquals": {"aws:RequestedRegion": requested_region}} if requested_region
            else None
        )
        # Through a profile, the foundation-model check may see a destination region as the
        # requested one, so those statements keep only the endpoint condition.
        self._routed_conditions = (
            {"aws:SourceVpce": vpc_endpoint_id} if vpc_endpoint_id else {})
        self.managed_policy = iam.ManagedPolicy(
            self, "InvokePolicy",
            managed_policy_name=managed_policy_name,
            description="Invoke the listed Bedrock models and inference profiles",
            statements=self.invoke_statements(),
        )

    def invoke_statements(self) -> list[iam.PolicyStatement]:
        """Fresh policy statements: the profiles and direct models, then per profile the
        foundation models it routes to, each only through that profile."""
        out = [iam.PolicyStatement(
            sid=self._sid, actions=list(INVOKE_ACTIONS), resources=list(self._direct),
            conditions=self.conditions)] if self._direct else []
        for i, (profile, fms) in enumerate(self._routed.items()):
            equals = {**self._routed_conditions, "bedrock:InferenceProfileArn": profile}
            out.append(iam.PolicyStatement(
                sid=f"{self._sid}ThroughProfile{i}", actions=list(INVOKE_ACTIONS),
                resources=fms, conditions={"StringEquals": equals}))
        return out

    def invoke_statement(self) -> iam.PolicyStatement:
        """The first statement of :meth:`invoke_statements` (kept for callers that add one)."""
        return self.invoke_statements()[0]

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to call InvokeModel, Converse and their streaming forms."""
        grants = [iam.Grant.add_to_principal(
            grantee=grantee, actions=list(st.actions), resource_arns=list(st.resources),
            conditions=st.conditions or None) for st in self.invoke_statements()]
        combined = grants[0]
        for grant in grants[1:]:
            combined = combined.combine(grant)
        return combined
