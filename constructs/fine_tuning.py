"""Fine-tuning pipelines: SageMaker training jobs and Bedrock model customization, run by
Step Functions inside a VPC, encrypted with one customer key, notifying success and failure.

CloudFormation has no training-job resource, so each job is a state machine that starts the
job and waits for it to finish (the ``.sync`` integration). Start one with::

    aws stepfunctions start-execution \\
        --state-machine-arn <the StateMachineArn output> \\
        --input '{"job_name": "support-summarizer-2025-06-01"}'

``job_name`` must be unique per job in the account and region (at most 63 characters:
letters, digits and '-'). A SageMaker job reads ``s3://<data bucket>/<dataset_prefix>`` (the
``train`` channel) and writes its model to ``s3://<output bucket>/<job name>/``. A Bedrock
customization reads ``train.jsonl`` and ``validation.jsonl`` under
``s3://<data bucket>/<dataset_prefix>``.

Example::

    pipeline = FineTuningPipeline(stack, "FineTuning", vpc=network.vpc,
                                  subnets=network.data_subnets,  # isolated: no NAT route
                                  endpoint_peers=network.job_egress_peers(),
                                  notify_emails=["ml-team@example.com"])
    pipeline.add_sagemaker_training(SageMakerTrainingJob(
        name="support-summarizer",
        training_image="763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training:2.1.0",
        instance_type="ml.g5.2xlarge",
        dataset_prefix="datasets/support/",
        hyperparameters={"epochs": "3"},
        max_runtime=Duration.hours(12),
    ))
    pipeline.add_bedrock_customization(BedrockCustomizationJob(
        name="nova-tuned", base_model_id="amazon.nova-micro-v1:0:128k",
        dataset_prefix="datasets/nova/"))
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_bedrock as bedrock
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from skyrelay.constructs.fine_tuning_permissions import (
    bedrock_customization_vpc_statements,
    sagemaker_training_statements,
    sagemaker_vpc_statement,
    source_conditions,
)
from skyrelay.constructs.instance_storage import has_local_storage
from skyrelay.constructs.secure_defaults import (
    INLINE_POLICY_REASON,
    acknowledge,
    acknowledge_wildcards,
    allow_cloudwatch_logs,
    data_key,
    encrypted_log_group,
    nag_ref,
    secure_bucket,
)

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
    r"(?P<repo>[a-z0-9._/-]+)(:[\w.-]+|@sha256:[0-9a-f]{64})?$"
)


@dataclass(frozen=True)
class SageMakerTrainingJob:
    """One SageMaker training job definition (container image and resources)."""

    name: str
    training_image: str
    instance_type: str = "ml.g5.2xlarge"
    instance_count: int = 1
    dataset_prefix: str = ""
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    max_runtime: cdk.Duration = field(default_factory=lambda: cdk.Duration.hours(24))
    volume_size_gib: int = 100


@dataclass(frozen=True)
class BedrockCustomizationJob:
    """One Bedrock model customization (fine-tuning of a Bedrock-hosted base model)."""

    name: str
    base_model_id: str
    dataset_prefix: str = ""
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    max_runtime: cdk.Duration = field(default_factory=lambda: cdk.Duration.hours(24))


@jsii.implements(tasks.IBedrockCreateModelCustomizationJobVpcConfig)
class _CustomizationVpc:
    def __init__(self, subnets: list[ec2.ISubnet], groups: list[ec2.ISecurityGroup]) -> None:
        self._subnets, self._groups = subnets, groups

    @property
    def subnets(self) -> list[ec2.ISubnet]:
        return self._subnets

    @property
    def security_groups(self) -> list[ec2.ISecurityGroup]:
        return self._groups


class FineTuningPipeline(Construct):
    """KMS key, data and output buckets, roles, and one state machine per fine-tuning job.

    SageMaker jobs run in ``subnets`` of ``vpc`` with network isolation, encrypted traffic
    between training containers, the key on the ML volumes (not on instance types with local
    storage, which CreateTrainingJob refuses; see ``instance_storage.py``) and the output,
    and a maximum runtime. Their security group sends HTTPS to ``endpoint_peers`` only (the
    VPC endpoints: interface endpoints' security group and the S3 prefix list; default: the
    VPC's own CIDR). Bedrock customization jobs get the VPC, tag and KMS permissions the
    Bedrock documentation lists; every service role trusts only this account's resources.
    Each state machine logs to an encrypted log group, is traced with X-Ray and publishes
    success and failure to an encrypted SNS topic.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection | None = None,
        encryption_key: kms.IKey | None = None,
        notify_emails: Sequence[str] = (),
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        endpoint_peers: Sequence[ec2.IPeer] | None = None,
    ) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self.vpc = vpc
        self.subnets = subnets or ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.log_retention = log_retention
        self.encryption_key = encryption_key or data_key(self, "Key", "fine-tuning data")
        allow_cloudwatch_logs(self.encryption_key, self)
        self.encryption_key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowNotifications",
            principals=[iam.ServicePrincipal("states.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        ))
        self.data_bucket = secure_bucket(self, "DataBucket", self.encryption_key)
        self.output_bucket = secure_bucket(self, "OutputBucket", self.encryption_key)
        self.topic = sns.Topic(self, "Notifications", display_name="skyrelay fine-tuning",
                               master_key=self.encryption_key, enforce_ssl=True)
        for email in notify_emails:
            self.topic.add_subscription(subs.EmailSubscription(email))

        self.security_group = ec2.SecurityGroup(
            self, "JobSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Training jobs: HTTPS to the VPC endpoints, traffic between containers")
        # HTTPS out to the VPC endpoints only: give the interface endpoints' security group
        # and the S3 gateway endpoint's prefix list (what PrivateModelNetwork.job_egress_peers
        # returns). A gateway endpoint is reached at S3's public addresses, so a security group
        # must name its prefix list to allow it, not 0.0.0.0/0:
        # https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html
        # Without peers the jobs may reach the VPC's own addresses (interface endpoints) only.
        for peer in endpoint_peers or [ec2.Peer.ipv4(vpc.vpc_cidr_block)]:
            self.security_group.add_egress_rule(peer, ec2.Port.tcp(443),
                                                "HTTPS to a VPC endpoint")
        self.security_group.add_egress_rule(self.security_group, ec2.Port.all_tcp(),
                                            "distributed training between job containers")
        self.security_group.add_ingress_rule(self.security_group, ec2.Port.all_tcp(),
                                             "distributed training between job containers")

        self._sagemaker_role: iam.Role | None = None
        self._bedrock_role: iam.Role | None = None
        self.state_machines: dict[str, sfn.StateMachine] = {}

    # -- roles and permissions ---------------------------------------------------------

    @property
    def sagemaker_role(self) -> iam.Role:
        """The SageMaker training job execution role (made with the first SageMaker job)."""
        if self._sagemaker_role is None:
            stack = cdk.Stack.of(self)
            # Confused-deputy conditions, as SageMaker documents them for its roles:
            # https://docs.aws.amazon.com/sagemaker/latest/dg/security-confused-deputy-prevention.html
            role = iam.Role(self, "SageMakerRole",
                            description="SageMaker training job execution role",
                            assumed_by=iam.ServicePrincipal(
                                "sagemaker.amazonaws.com",
                                conditions=source_conditions(stack, "sagemaker", "*")))
            logs, unscoped = sagemaker_training_statements(stack)
            self._allow(role, "SageMaker names each job's log streams after the job; the grant "
                        "covers streams of the SageMaker training log group only", logs)
            self._allow(role, "cloudwatch:PutMetricData and ecr:GetAuthorizationToken support "
                        "no resource-level permissions; metrics are limited to SageMaker "
                        "namespaces by condition, and image pulls to named repositories",
                        unscoped)
            self._common_job_permissions(role)
            self._sagemaker_role = role
        return self._sagemaker_role

    @property
    def bedrock_role(self) -> iam.Role:
        """The role Bedrock customization jobs run with (made with the first such job)."""
        if self._bedrock_role is None:
            stack = cdk.Stack.of(self)
            # The trust policy of the customization service role, as documented:
            # https://docs.aws.amazon.com/bedrock/latest/userguide/model-customization-iam-role.html
            role = iam.Role(
                self, "BedrockRole", description="Bedrock model customization job role",
                assumed_by=iam.ServicePrincipal("bedrock.amazonaws.com", conditions=(
                    source_conditions(stack, "bedrock", "model-customization-job/*"))))
            self._common_job_permissions(role, eni_statement=False)
            self._allow(role, "Bedrock creates, tags and removes the job's network interfaces "
                        "(tagged BedrockManaged) and describes the VPC; the describe calls "
                        "accept no resource, the interface ones are held to the job's tags, "
                        "subnets and security group", self._bedrock_vpc_statements())
            self._bedrock_role = role
        return self._bedrock_role

    @staticmethod
    def _allow(role: iam.IRole, reason: str | None,
               statements: list[iam.PolicyStatement]) -> None:
        """Add statements to ``role``; a ``reason`` acknowledges their wildcards."""
        for statement in statements:
            role.add_to_principal_policy(statement)
        if reason:
            acknowledge_wildcards(role, statements, reason)

    def _job_subnets(self) -> list[ec2.ISubnet]:
        return self.vpc.select_subnets(subnet_type=self.subnets.subnet_type,
                                       subnet_group_name=self.subnets.subnet_group_name,
                                       subnets=self.subnets.subnets).subnets

    def _bedrock_vpc_statements(self) -> list[iam.PolicyStatement]:
        return bedrock_customization_vpc_statements(
            cdk.Stack.of(self), self._job_subnets(), self.security_group)

    def _common_job_permissions(self, role: iam.Role, eni_statement: bool = True) -> None:
        self._allow(role, None, [iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"],
            resources=[self.encryption_key.key_arn])])
        if eni_statement:
            self._sagemaker_eni_statement(role)
        acknowledge(role, INLINE_POLICY_REASON, "NIST.800.53.R5-IAMNoInlinePolicy")

    def _sagemaker_eni_statement(self, role: iam.Role) -> None:
        self._allow(role, "The training service creates and removes its network interfaces in "
                    "the job's subnets; the EC2 network-interface and describe APIs it calls "
                    "accept no resource scoping at that point", [sagemaker_vpc_statement()])

    def _grant_job_data(self, role: iam.Role, dataset_prefix: str, output_prefix: str) -> None:
        """Read the job's dataset, write the job's output folder: nothing else."""
        self._allow(role, "Objects are named by the dataset's author and by the training job, "
                    "so access is granted per prefix: read under this job's dataset prefix, "
                    "write under this job's output prefix", [
                        iam.PolicyStatement(
                            actions=["s3:GetObject"],
                            resources=[self.data_bucket.arn_for_objects(f"{dataset_prefix}*")]),
                        iam.PolicyStatement(
                            actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                            resources=[self.output_bucket.arn_for_objects(f"{output_prefix}*")]),
                        iam.PolicyStatement(
                            actions=["s3:ListBucket"],
                            resources=[self.data_bucket.bucket_arn,
                                       self.output_bucket.bucket_arn]),
                    ])

    def _grant_image_pull(self, image: str) -> None:
        match = _ECR_IMAGE.match(image)
        if not match:
            raise ValueError(f"{image!r} is not an ECR image URI "
                             "(<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag])")
        stack = cdk.Stack.of(self)
        repo_arn = (f"arn:{stack.partition}:ecr:{match['region']}:{match['account']}:"
                    f"repository/{match['repo']}")
        self.sagemaker_role.add_to_policy(iam.PolicyStatement(
            actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                     "ecr:BatchGetImage"],
            resources=[repo_arn],
        ))

    # -- state machines ----------------------------------------------------------------

    def _notify(self, id: str, subject: str, message: str) -> tasks.SnsPublish:
        return tasks.SnsPublish(
            self, id, topic=self.topic, subject=subject,
            message=sfn.TaskInput.from_json_path_at(message) if message.startswith("$")
            else sfn.TaskInput.from_text(message),
            result_path=sfn.JsonPath.DISCARD,
        )

    def _state_machine(self, job_name: str, run: sfn.CustomState,
                       policies: Sequence[iam.PolicyStatement],
                       max_runtime: cdk.Duration) -> sfn.StateMachine:
        slug = _pascal(job_name)
        failed = self._notify(f"{slug}NotifyFailure", f"skyrelay fine-tuning {job_name} failed",
                              "$.error.Cause").next(
            sfn.Fail(self, f"{slug}Failed", error="FineTuningFailed",
                     cause=f"fine-tuning job {job_name} failed"))
        run.add_catch(failed, result_path="$.error")
        ok = self._notify(f"{slug}NotifySuccess", f"skyrelay fine-tuning {job_name} succeeded",
                          f"fine-tuning job {job_name} finished")
        machine = sfn.StateMachine(
            self, f"{slug}StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(
                run.next(ok).next(sfn.Succeed(self, f"{slug}Succeeded"))),
            timeout=max_runtime.plus(cdk.Duration.hours(1)),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=encrypted_log_group(self, f"{slug}Logs", self.encryption_key,
                                                self.log_retention),
                level=sfn.LogLevel.ALL,
                include_execution_data=False,  # execution data may hold dataset paths only
            ),
        )
        for statement in policies:
            machine.add_to_role_policy(statement)
        machine.add_to_role_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[self.encryption_key.key_arn]))
        acknowledge_wildcards(
            machine.role, list(policies),
            "Training and customization job names come from each execution's input, so the "
            "service-integration statements name the job type in this account and region; "
            "the .sync integration also manages its own EventBridge rule")
        acknowledge(
            machine.role,
            "X-Ray tracing (PutTraceSegments, PutTelemetryRecords) and CloudWatch Logs "
            "delivery (CreateLogDelivery and related) support no resource-level permissions",
            "AwsSolutions-IAM5[Resource::*]")
        acknowledge(machine.role, INLINE_POLICY_REASON, "NIST.800.53.R5-IAMNoInlinePolicy")
        self.state_machines[job_name] = machine
        cdk.CfnOutput(self, f"{slug}StateMachineArn", value=machine.state_machine_arn,
                      description=f"start-execution target for fine-tuning job {job_name}")
        return machine

    def add_sagemaker_training(self, job: SageMakerTrainingJob) -> sfn.StateMachine:
        """A state machine that runs ``job`` to completion; returns it."""
        if not job.instance_type.startswith("ml."):
            raise ValueError(f"{job.name}: instance_type {job.instance_type!r} must start "
                             "with 'ml.'")
        self._grant_image_pull(job.training_image)
        self._grant_job_data(self.sagemaker_role, job.dataset_prefix, f"{job.name}/")
        slug = _pascal(job.name)
        train = tasks.SageMakerCreateTrainingJob(
            self, f"{slug}Train",
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            training_job_name=sfn.JsonPath.string_at("$.job_name"),
            role=self.sagemaker_role,
            algorithm_specification=tasks.AlgorithmSpecification(
                training_image=tasks.DockerImage.from_registry(job.training_image),
                training_input_mode=tasks.InputMode.FILE,
            ),
            input_data_config=[tasks.Channel(
                channel_name="train",
                data_source=tasks.DataSource(s3_data_source=tasks.S3DataSource(
                    s3_location=tasks.S3Location.from_bucket(self.data_bucket,
                                                             job.dataset_prefix),
                    s3_data_type=tasks.S3DataType.S3_PREFIX,
                )),
            )],
            output_data_config=tasks.OutputDataConfig(
                s3_output_location=tasks.S3Location.from_bucket(self.output_bucket,
                                                                f"{job.name}/"),
                encryption_key=self.encryption_key,
            ),
            resource_config=tasks.ResourceConfig(
                instance_count=job.instance_count,
                instance_type=ec2.InstanceType(job.instance_type.removeprefix("ml.")),
                volume_size=cdk.Size.gibibytes(job.volume_size_gib),
                # Instance-store volumes are encrypted by the instance's hardware module and
                # CreateTrainingJob refuses a key for them (constructs/instance_storage.py).
                volume_encryption_key=None if has_local_storage(job.instance_type)
                else self.encryption_key,
            ),
            stopping_condition=tasks.StoppingCondition(max_runtime=job.max_runtime),
            vpc_config=tasks.VpcConfig(vpc=self.vpc, subnets=self.subnets),
            enable_network_isolation=True,
            hyperparameters=dict(job.hyperparameters),
            result_path="$.training",
        )
        # The L2 task does not render EnableInterContainerTrafficEncryption; render its state
        # and add the field (the task's own IAM statements are kept below).
        state = _task_state(train)
        params = state["Parameters"]
        params["EnableInterContainerTrafficEncryption"] = True
        # S3Location.from_bucket renders https://s3.<region>.<suffix>/<bucket>/<key>, which
        # SageMaker reads with the host as the bucket; channels and the output path are
        # s3://bucket/prefix (API_S3DataSource.html, API_OutputDataConfig.html).
        params["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = (
            self.data_bucket.s3_url_for_object(job.dataset_prefix))
        params["OutputDataConfig"]["S3OutputPath"] = self.output_bucket.s3_url_for_object(
            f"{job.name}/")
        state["Parameters"]["VpcConfig"]["SecurityGroupIds"] = [
            self.security_group.security_group_id]
        acknowledge(
            self.sagemaker_role,
            "SageMakerCreateTrainingJob binds its input, output and volume locations with "
            "CDK's standard read and read-write grants; they name only this pipeline's data "
            "bucket, output bucket and key",
            *(f"AwsSolutions-IAM5[Action::{a}]" for a in (
                "kms:GenerateDataKey*", "kms:ReEncrypt*", "s3:Abort*", "s3:DeleteObject*",
                "s3:GetBucket*", "s3:GetObject*", "s3:List*")),
            f"AwsSolutions-IAM5[Resource::{nag_ref(self.data_bucket)}/*]",
            f"AwsSolutions-IAM5[Resource::{nag_ref(self.output_bucket)}/*]",
        )
        # The task made its own allow-all-outbound group; the job uses the stricter one above.
        train.node.try_remove_child("TrainJobSecurityGroup")
        run = sfn.CustomState(self, f"{slug}Run", state_json=state)
        return self._state_machine(job.name, run, train._task_policies or [], job.max_runtime)

    def add_bedrock_customization(self, job: BedrockCustomizationJob) -> sfn.StateMachine:
        """A state machine that runs a Bedrock customization job to completion; returns it."""
        slug = _pascal(job.name)
        self._grant_job_data(self.bedrock_role, job.dataset_prefix, f"{job.name}/")
        subnets = self._job_subnets()
        customize = tasks.BedrockCreateModelCustomizationJob(
            self, f"{slug}Customize",
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            base_model=bedrock.FoundationModel.from_foundation_model_id(
                self, f"{slug}BaseModel", bedrock.FoundationModelIdentifier(job.base_model_id)),
            custom_model_name=sfn.JsonPath.string_at("$.job_name"),
            job_name=sfn.JsonPath.string_at("$.job_name"),
            role=self.bedrock_role,
            training_data=tasks.TrainingBucketConfiguration(
                bucket=self.data_bucket, path=f"{job.dataset_prefix}train.jsonl"),
            validation_data=[tasks.ValidationBucketConfiguration(
                bucket=self.data_bucket, path=f"{job.dataset_prefix}validation.jsonl")],
            output_data=tasks.OutputBucketConfiguration(
                bucket=self.output_bucket, path=f"{job.name}/"),
            custom_model_kms_key=self.encryption_key,
            hyper_parameters=dict(job.hyperparameters) or None,
            vpc_config=_CustomizationVpc(subnets, [self.security_group]),
            result_path="$.customization",
        )
        state = _task_state(customize)
        policies = list(customize._task_policies or [])
        if not state["Resource"].endswith(".sync"):
            # The L2 task ignores RUN_JOB when it renders its resource ARN; wait for the job.
            state["Resource"] += ".sync"
            policies.append(iam.PolicyStatement(
                actions=["bedrock:GetModelCustomizationJob", "bedrock:StopModelCustomizationJob"],
                resources=[cdk.Stack.of(self).format_arn(
                    service="bedrock", resource="model-customization-job", resource_name="*")],
            ))
        # The caller of CreateModelCustomizationJob needs these on the custom model's key
        # (Bedrock creates grants on it for the job):
        # https://docs.aws.amazon.com/bedrock/latest/userguide/encryption-custom-job.html
        policies.append(iam.PolicyStatement(
            actions=["kms:CreateGrant", "kms:DescribeKey", "kms:Decrypt",
                     "kms:GenerateDataKey"],
            resources=[self.encryption_key.key_arn],
            conditions={"StringEquals": {
                "kms:ViaService": f"bedrock.{cdk.Stack.of(self).region}.amazonaws.com"}}))
        run = sfn.CustomState(self, f"{slug}Run", state_json=state)
        return self._state_machine(job.name, run, policies, job.max_runtime)


def _task_state(task: sfn.TaskStateBase) -> dict[str, Any]:
    """The rendered state of an L2 task, without its transition (CustomState adds that)."""
    state = dict(task.to_state_json())
    for key in ("Next", "End", "Catch", "Retry"):
        state.pop(key, None)
    return state


def _pascal(name: str) -> str:
    return "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", name) if p)
