"""Per-region Bedrock stack: invoke permissions on the spec's models, the content filters as
Bedrock Guardrails (:attr:`BedrockStack.guardrails`, where the region has models), and
invocation logging."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from skyrelay.constructs.bedrock_access import BedrockModelAccess
from skyrelay.constructs.guardrails import ContentFilter, ModelGuardrail
from skyrelay.constructs.invocation_logging import ModelInvocationLogging
from skyrelay.constructs.network import IPrivateModelNetwork
from skyrelay.spec import Spec
from skyrelay.stacks.common import RegionStack, retention
from skyrelay.views.bedrock_arns import bedrock_invoke_arns
from skyrelay.views.guardrails import bedrock_regions, guardrail_filters, guardrail_name


class BedrockStack(RegionStack):
    """Model access (:attr:`model_access`, ``None`` without models) and invocation logging.

    The invoke permission only holds through the region's bedrock-runtime VPC endpoint. The
    gateway stack grants it to its task role with ``model_access.grant_invoke(role)``.
    """

    def __init__(self, scope: Construct, id: str, *, spec: Spec, region: str,
                 network: IPrivateModelNetwork, **kwargs: Any) -> None:
        super().__init__(scope, id, spec=spec, region=region, **kwargs)
        assert spec.aws is not None
        arns = bedrock_invoke_arns(spec, region, spec.aws.account or self.account)
        self.model_access: BedrockModelAccess | None = None
        if arns.all():
            self.model_access = BedrockModelAccess(
                self, "ModelAccess",
                foundation_model_arns=arns.direct_models,
                inference_profile_arns=arns.inference_profiles,
                profile_foundation_model_arns=dict(arns.profile_models),
                vpc_endpoint_id=network.bedrock_runtime_endpoint.vpc_endpoint_id,
            )
            cdk.CfnOutput(self, "InvokePolicyArn",
                          value=self.model_access.managed_policy.managed_policy_arn)
        #: Content filter name -> its guardrail in this region (one definition, both clouds).
        self.guardrails: dict[str, ModelGuardrail] = {}
        if region in bedrock_regions(spec) and spec.azure:
            for f in spec.azure.content_filters:
                self.guardrails[f.name] = ModelGuardrail(
                    self, f"Guardrail-{f.name}",
                    name=guardrail_name(spec.name, f.name),
                    description=f"skyrelay {spec.name}: content filter {f.name} (also the "
                                "Azure RAI policy of the same name)",
                    filters=[ContentFilter(g.type, g.input_strength, g.output_strength, g.block)
                             for g in guardrail_filters(f)])
        logging_cfg = spec.aws.invocation_logging
        self.invocation_logging: ModelInvocationLogging | None = None
        if logging_cfg.enabled:
            self.invocation_logging = ModelInvocationLogging(
                self, "InvocationLogging",
                retention=retention(logging_cfg.log_retention_days),
                text=logging_cfg.text, image=logging_cfg.image,
                embedding=logging_cfg.embedding,
            )
            cdk.CfnOutput(self, "InvocationLogBucket",
                          value=self.invocation_logging.bucket.bucket_name)
