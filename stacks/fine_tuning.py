"""Per-region fine-tuning stack: one state machine per spec job in the region."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from skyrelay.constructs.fine_tuning import (
    BedrockCustomizationJob,
    FineTuningPipeline,
    SageMakerTrainingJob,
)
from skyrelay.constructs.network import IPrivateModelNetwork
from skyrelay.spec import Spec
from skyrelay.spec.models import FineTuningJob
from skyrelay.stacks.common import RegionStack


def _hyperparameters(job: FineTuningJob) -> dict[str, str]:
    """SageMaker and Bedrock take hyperparameters as strings."""
    return {key: str(value) for key, value in job.hyperparameters.items()}


class FineTuningStack(RegionStack):
    """The fine-tuning pipeline of one region (:attr:`pipeline`)."""

    def __init__(self, scope: Construct, id: str, *, spec: Spec, region: str,
                 network: IPrivateModelNetwork, **kwargs: Any) -> None:
        super().__init__(scope, id, spec=spec, region=region, **kwargs)
        assert spec.aws is not None
        self.pipeline = FineTuningPipeline(
            # Isolated subnets (no NAT route even where the gateway has one), egress only
            # to the VPC endpoints: a job reaches S3, ECR, logs ... and nothing else.
            self, "FineTuning", vpc=network.vpc, subnets=network.data_subnets,
            endpoint_peers=network.job_egress_peers(),
            notify_emails=spec.aws.alarms.notify_emails,
        )
        for job in spec.fine_tuning.jobs:
            if job.region != region:
                continue
            runtime = cdk.Duration.minutes(round(job.max_runtime_hours * 60))
            if job.training_image:
                self.pipeline.add_sagemaker_training(SageMakerTrainingJob(
                    name=job.name, training_image=job.training_image,
                    instance_type=job.instance_type, instance_count=job.instance_count,
                    dataset_prefix=job.dataset_s3_prefix,
                    hyperparameters=_hyperparameters(job), max_runtime=runtime,
                ))
            else:
                assert job.base_model is not None
                self.pipeline.add_bedrock_customization(BedrockCustomizationJob(
                    name=job.name, base_model_id=job.base_model,
                    dataset_prefix=job.dataset_s3_prefix,
                    hyperparameters=_hyperparameters(job), max_runtime=runtime,
                ))
        cdk.CfnOutput(self, "DataBucket", value=self.pipeline.data_bucket.bucket_name)
        cdk.CfnOutput(self, "OutputBucket", value=self.pipeline.output_bucket.bucket_name)
