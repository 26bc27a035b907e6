"""Per-region Bedrock stack: invoke permissions on the spec's models, and invocation logging."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from skyrelay.constructs.bedrock_access import BedrockModelAccess
from skyrelay.constructs.invocation_logging import ModelInvocationLogging
from skyrelay.constructs.network import IPrivateModelNetwork
from skyrelay.spec import Spec
from skyrelay.stacks.common import RegionStack, retention
from skyrelay.views.bedrock_arns import bedrock_invoke_arns


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
                foundation_model_arns=arns.foundation_models,
                inference_profile_arns=arns.inference_profiles,
                vpc_endpoint_id=network.bedrock_runtime_endpoint.vpc_endpoint_id,
            )
            cdk.CfnOutput(self, "InvokePolicyArn",
                          value=self.model_access.managed_policy.managed_policy_arn)
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
