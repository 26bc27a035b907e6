"""An Amazon Bedrock Guardrail with a published version, from plain content-filter settings.

``AWS::Bedrock::Guardrail`` holds the working draft; ``AWS::Bedrock::GuardrailVersion`` an
immutable numbered snapshot of it, which is what callers should name (a DRAFT changes under
them). Converse takes ``guardrailConfig {guardrailIdentifier, guardrailVersion}``
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_GuardrailConfiguration.html);
callers need ``bedrock:ApplyGuardrail`` on the guardrail
(https://docs.aws.amazon.com/bedrock/latest/userguide/guardrails-permissions-id.html), and
``kms:Decrypt`` on its key when it has one.

Filter types and strengths are Bedrock's own
(https://docs.aws.amazon.com/bedrock/latest/userguide/guardrails-content-filters-overview.html):
``HATE INSULTS SEXUAL VIOLENCE MISCONDUCT PROMPT_ATTACK`` at ``NONE LOW MEDIUM HIGH``, where a
higher strength filters more (HIGH also blocks content classified with LOW confidence).
``PROMPT_ATTACK`` applies to prompts only: its output strength must be ``NONE``.

Example::

    from skyrelay.constructs.guardrails import ContentFilter, ModelGuardrail

    guardrail = ModelGuardrail(stack, "Strict", name="acme-strict", filters=[
        ContentFilter("HATE", "HIGH", "HIGH"), ContentFilter("PROMPT_ATTACK", "HIGH", "NONE")])
    guardrail.grant_apply(task_role)
    print(guardrail.guardrail_id, guardrail.version)     # tokens until deployed
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from skyrelay.constructs.secure_defaults import data_key

FILTER_TYPES = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK")
STRENGTHS = ("NONE", "LOW", "MEDIUM", "HIGH")
#: What a blocked prompt or answer reads (the gateway answers ``content_filter`` anyway).
BLOCKED_MESSAGE = "This request was blocked by the platform's content filter."


@dataclass(frozen=True)
class ContentFilter:
    """One content filter of a guardrail: type, prompt and answer strength, and whether a
    match blocks (``block=False`` only detects, as Bedrock's action ``NONE``)."""

    type: str
    input_strength: str
    output_strength: str
    block: bool = True

    def __post_init__(self) -> None:
        if self.type not in FILTER_TYPES:
            raise ValueError(f"filter type {self.type!r}: use one of {', '.join(FILTER_TYPES)}")
        for value in (self.input_strength, self.output_strength):
            if value not in STRENGTHS:
                raise ValueError(f"strength {value!r}: use one of {', '.join(STRENGTHS)}")
        if self.type == "PROMPT_ATTACK" and self.output_strength != "NONE":
            raise ValueError("PROMPT_ATTACK filters prompts only: output_strength must be NONE")


class ModelGuardrail(Construct):
    """A guardrail (content filters only) and its version (see the module docstring).

    Attributes: :attr:`guardrail` (the L1 ``CfnGuardrail``), :attr:`guardrail_version`,
    :attr:`guardrail_id`, :attr:`guardrail_arn`, :attr:`version` (the published number),
    :attr:`definition_digest`, :attr:`key`.
    """

    def __init__(self, scope: Construct, id: str, *, name: str,
                 filters: Sequence[ContentFilter], description: str | None = None,
                 blocked_message: str = BLOCKED_MESSAGE,
                 key: kms.IKey | None = None) -> None:
        super().__init__(scope, id)
        if not filters:
            raise ValueError("a guardrail needs at least one content filter")
        if len({f.type for f in filters}) != len(filters):
            raise ValueError("each filter type may appear once")
        self.key = key or data_key(self, "Key", f"Bedrock guardrail {name}")
        self.guardrail = bedrock.CfnGuardrail(
            self, "Resource",
            name=name,
            description=description,
            blocked_input_messaging=blocked_message,
            blocked_outputs_messaging=blocked_message,
            kms_key_arn=self.key.key_arn,
            content_policy_config=bedrock.CfnGuardrail.ContentPolicyConfigProperty(
                filters_config=[bedrock.CfnGuardrail.ContentFilterConfigProperty(
                    type=f.type, input_strength=f.input_strength,
                    output_strength=f.output_strength,
                    input_action="BLOCK" if f.block else "NONE",
                    output_action="BLOCK" if f.block else "NONE") for f in filters]),
        )
        # A new version is published whenever the draft's definition changes: the version
        # resource's logical id carries a digest of it, so CloudFormation replaces it.
        digest = _digest(filters, blocked_message)
        self.guardrail_version = bedrock.CfnGuardrailVersion(
            self, f"Version{digest}",
            guardrail_identifier=self.guardrail.attr_guardrail_id,
            description=f"{name} (definition {digest})")
        # Published versions are kept for callers still pinned to them.
        self.guardrail_version.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.guardrail_id: str = self.guardrail.attr_guardrail_id
        self.guardrail_arn: str = self.guardrail.attr_guardrail_arn
        self.version: str = self.guardrail_version.attr_version
        #: A digest of the definition (plain text, not a token): a config that carries it
        #: changes whenever a new version is published.
        self.definition_digest = digest

    def grant_apply(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to apply the guardrail (Converse with guardrailConfig,
        ApplyGuardrail) and to decrypt with its key."""
        grant = iam.Grant.add_to_principal(grantee=grantee, actions=["bedrock:ApplyGuardrail"],
                                           resource_arns=[self.guardrail_arn])
        return grant.combine(self.key.grant_decrypt(grantee))


def _digest(filters: Sequence[ContentFilter], message: str) -> str:
    text = repr(sorted((f.type, f.input_strength, f.output_strength, f.block)
                       for f in filters)) + message
    return hashlib.sha256(text.encode()).hexdigest()[:12]
