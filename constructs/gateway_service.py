"""The model gateway as a private ECS Fargate service: internal load balancer, shared state,
config from Parameter Store, secrets from Secrets Manager, logs, autoscaling and alarms.

What it builds, with the reasons for the defaults:

* **Service**: Fargate tasks (ARM64 by default) from ``image`` in ``vpc_subnets``, no public
  addresses, read-only root file system (a task-local ``/tmp`` volume for scratch),
  deployment circuit breaker with rollback, scaling between ``min_tasks`` and ``max_tasks``
  on CPU and on requests per target.
* **Load balancer**: an *internal* ALB listening on HTTPS (443) with ``certificate_arn``
  and ELBSecurityPolicy-TLS13-1-2-2021-06 (TLS 1.3 and 1.2 only, ``SslPolicy.RECOMMENDED_TLS``;
  checkov CKV_AWS_2 / CKV_AWS_103). Plain HTTP (80) only with ``plain_http=True``, an
  explicit opt-out: without a certificate and without it the construct refuses. Its
  security group admits only ``allowed_cidrs`` (default: the VPC's own range), so the only
  clients that can reach it are inside the VPC or its peered networks. Target health is
  ``GET /readyz``. Access logs go to an S3 bucket with S3-managed encryption, the only
  kind ALB log delivery accepts.
* **Config**: ``config`` (the gateway's JSON) is stored in an *advanced-tier* SSM
  parameter and injected by ECS at task start as the ``SKYRELAY_GATEWAY_CONFIG``
  environment variable, so the container reads no AWS API and needs no network to start.
  Advanced tier because configs outgrow the standard tier's 4 KB (the default spec's is
  ~6 KB) and because a parameter can be moved from standard to advanced but never back,
  so choosing the tier by size would break a later deploy of a smaller config. The
  advanced tier holds 8 KB; larger configs are refused at synth. A change of config
  changes a label on the container, so each deploy rolls the tasks onto the new config.
* **Secrets**: ``secrets`` (environment name -> ``ecs.Secret``) are injected by ECS from
  Secrets Manager or SecureString parameters; nothing secret is a plain environment value.
* **Shared state** (``shared_state=True``): a Valkey replication group in ``data_subnets``
  with in-transit encryption required, at-rest encryption with the KMS key, an AUTH token
  generated in Secrets Manager (given to the tasks as ``SKYRELAY_REDIS_PASSWORD``), a
  non-default port and a security group that admits only the service's security group.
* **Logs**: one KMS-encrypted log group with retention, kept on stack deletion (usage
  records are written to it as CloudWatch EMF lines, which become metrics).
* **Alarms** (:attr:`alarms`): 5xx rate, p99 target response time, no healthy targets;
  they notify ``alarm_topic`` when given (or hand them to ``ModelObservability.add_alarm``).

Example::

    from aws_cdk import aws_ecs as ecs
    from skyrelay.constructs.gateway_service import GatewayService, gateway_widgets

    gateway = GatewayService(
        stack, "Gateway",
        vpc=net.vpc,
        vpc_subnets=net.workload_subnets,
        data_subnets=net.data_subnets,
        image=ecs.ContainerImage.from_registry("ghcr.io/example/skyrelay-gateway:1.0"),
        config='{"version": 1, ...}',
        secrets={"SKYRELAY_SECRET_WEB_APP": ecs.Secret.from_secrets_manager(web_app_hash)},
        certificate_arn=PrivateCaCertificate(stack, "Tls",
                                             domain_name="gateway.example.internal").certificate_arn,
    )
    model_access.grant_invoke(gateway.task_role)        # BedrockModelAccess
    observability.add_widgets(*gateway_widgets(routes=["gpt-4o"], tenants=["web-app"]))
    for alarm in gateway.alarms:
        observability.add_alarm(alarm)
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from skyrelay.constructs.secure_defaults import (
    INLINE_POLICY_REASON,
    acknowledge,
    allow_cloudwatch_logs,
    data_key,
    encrypted_log_group,
)

# The names the container reads (its config, the shared-state URL and password, the drain
# window, the port) come from the gateway's own module, so what is injected is what is read.
from skyrelay.gateway.envnames import (
    CONFIG_ENV,
    CONTAINER_PORT,
    DRAIN_ENV,
    REDIS_PASSWORD_ENV,
    REDIS_URL_ENV,
    WORKERS_ENV,
)

#: The CloudWatch namespace of the gateway's EMF usage records (``skyrelay.gateway.metering``).
METRICS_NAMESPACE = "Skyrelay/Gateway"
#: Largest advanced-tier parameter value (bytes).
MAX_CONFIG_BYTES = 8192
#: Fargate's longest stop timeout (SIGTERM -> SIGKILL); 30 s when unset.
#: https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/ecs/aws.sdk.kotlin.services.ecs.model/-container-definition/stop-timeout.html
MAX_STOP_TIMEOUT = 120
#: Seconds of the stop timeout kept after the drain window: cut requests write their error
#: event and usage record, the meter flushes, the state store closes.
STOP_MARGIN = 10
#: Default Valkey port is 6379; another one keeps scanners for the default port off it.
REDIS_PORT = 6380

#: A CDK token inside the config string (e.g. a guardrail id): its text depends on the
#: order constructs were made in, so the hash label leaves it out (the value it resolves
#: to is the parameter's; a config that must roll the tasks carries a plain-text change).
_TOKEN = re.compile(r"\$\{Token\[[^\]]*\]\}")

_HEALTH_COMMAND = ("import urllib.request; "
                   f"urllib.request.urlopen('http://127.0.0.1:{CONTAINER_PORT}/healthz', "
                   "timeout=2)")


def task_workers(cpu: int, shared_state: bool) -> int:
    """Gateway worker processes for a Fargate task of ``cpu`` units (1024 per vCPU).

    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
    """
    return max(1, cpu // 1024) if shared_state else 1


class GatewayService(Construct):
    """The gateway on ECS Fargate behind an internal ALB (see the module docstring).

    Attributes: :attr:`cluster`, :attr:`service`, :attr:`task_definition`,
    :attr:`task_role` (grant model access to it), :attr:`load_balancer`, :attr:`listener`,
    :attr:`target_group`, :attr:`security_group` (the tasks'), :attr:`config_parameter`,
    :attr:`log_group`, :attr:`shared_state` (the Valkey group or ``None``),
    :attr:`shared_state_security_group`, :attr:`redis_auth_secret`, :attr:`alarms`,
    :attr:`url`.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc,
        image: ecs.ContainerImage,
        config: str,
        vpc_subnets: ec2.SubnetSelection | None = None,
        data_subnets: ec2.SubnetSelection | None = None,
        allowed_cidrs: Sequence[str] | None = None,
        config_parameter_name: str | None = None,
        secrets: Mapping[str, ecs.Secret] | None = None,
        environment: Mapping[str, str] | None = None,
        certificate_arn: str | None = None,
        plain_http: bool = False,
        cpu: int = 1024,
        memory_mib: int = 2048,
        min_tasks: int = 2,
        max_tasks: int = 6,
        cpu_architecture: ecs.CpuArchitecture = ecs.CpuArchitecture.ARM64,
        cpu_target_percent: int = 60,
        requests_per_target_per_minute: int = 1000,
        request_timeout: cdk.Duration | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
        encryption_key: kms.IKey | None = None,
        shared_state: bool = True,
        shared_state_node_type: str = "cache.t4g.small",
        shared_state_replicas: int = 1,
        error_rate_percent: float = 5.0,
        p99_latency: cdk.Duration | None = None,
        deletion_protection: bool = True,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, id)
        request_timeout = request_timeout or cdk.Duration.seconds(120)
        p99_latency = p99_latency or cdk.Duration.seconds(30)
        if certificate_arn is None and not plain_http:
            raise ValueError("give certificate_arn (HTTPS on the load balancer; e.g. "
                             "PrivateCaCertificate(...).certificate_arn), or plain_http=True to "
                             "opt out of TLS explicitly")
        if certificate_arn is not None and plain_http:
            raise ValueError("certificate_arn and plain_http=True exclude each other")
        if not 1 <= min_tasks <= max_tasks:
            raise ValueError(f"need 1 <= min_tasks ({min_tasks}) <= max_tasks ({max_tasks})")
        size = len(config.encode())
        if size > MAX_CONFIG_BYTES:
            raise ValueError(f"the gateway config is {size} bytes; an SSM parameter holds at "
                             f"most {MAX_CONFIG_BYTES} (advanced tier)")
        secrets = dict(secrets or {})
        environment = dict(environment or {})
        reserved = {CONFIG_ENV, REDIS_URL_ENV, REDIS_PASSWORD_ENV, DRAIN_ENV, WORKERS_ENV}
        clash = sorted(reserved & (set(secrets) | set(environment)))
        if clash:
            raise ValueError(f"{clash} are set by GatewayService itself")
        both = sorted(set(secrets) & set(environment))
        if both:
            raise ValueError(f"{both} given both as a secret and as a plain value")
        stack = cdk.Stack.of(self)
        subnets = vpc_subnets or ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        cidrs = list(allowed_cidrs) if allowed_cidrs is not None else [vpc.vpc_cidr_block]
        public = [c for c in cidrs if not cdk.Token.is_unresolved(c)
                  and not ipaddress.ip_network(c, strict=False).is_private]
        if not cidrs or public:
            raise ValueError(f"allowed_cidrs must name private ranges, not {public} (the "
                             "internal load balancer is not for the internet)")

        self.encryption_key = encryption_key or data_key(self, "Key", "model gateway")
        allow_cloudwatch_logs(self.encryption_key, self)
        self.log_group = encrypted_log_group(self, "Logs", self.encryption_key, log_retention)

        self.config_parameter = ssm.StringParameter(
            self, "Config",
            parameter_name=config_parameter_name,
            string_value=config,
            tier=ssm.ParameterTier.ADVANCED,
            description="skyrelay gateway runtime config (JSON, no secrets)",
        )

        self.security_group = ec2.SecurityGroup(
            self, "TaskSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Gateway tasks: from the load balancer only")
        # Out: HTTPS to model endpoints (VPC endpoints here, other clouds through NAT where
        # the VPC has it; in a VPC without NAT the route tables allow nothing else anyway).
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
                                            "HTTPS to model endpoints and AWS APIs")

        self.shared_state: elasticache.CfnReplicationGroup | None = None
        self.shared_state_security_group: ec2.SecurityGroup | None = None
        self.redis_auth_secret: secretsmanager.Secret | None = None
        if shared_state:
            self._add_shared_state(vpc, data_subnets, shared_state_node_type,
                                   shared_state_replicas)
            assert self.shared_state is not None and self.redis_auth_secret is not None
            environment[REDIS_URL_ENV] = cdk.Fn.join("", [
                "rediss://", self.shared_state.attr_primary_end_point_address, ":",
                self.shared_state.attr_primary_end_point_port])
            secrets[REDIS_PASSWORD_ENV] = ecs.Secret.from_secrets_manager(
                self.redis_auth_secret)
        secrets[CONFIG_ENV] = ecs.Secret.from_ssm_parameter(self.config_parameter)

        self.task_role = iam.Role(
            self, "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": stack.account}}),
            description="skyrelay gateway tasks: model access is granted to this role",
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self, "Task",
            cpu=cpu, memory_limit_mib=memory_mib, task_role=self.task_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=cpu_architecture,
                operating_system_family=ecs.OperatingSystemFamily.LINUX),
        )
        drain = min(max(request_timeout.to_seconds(), 30), 3600)
        # The task's stop timeout and the gateway's drain window are set together: requests
        # in progress get the window, the margin is for their records and the flush.
        stop_seconds = int(min(MAX_STOP_TIMEOUT, max(60, request_timeout.to_seconds()
                                                     + STOP_MARGIN)))
        environment[DRAIN_ENV] = str(stop_seconds - STOP_MARGIN)
        # One gateway process per vCPU (1024 CPU units), which the shared state makes safe;
        # without it the in-process limits allow one process only.
        environment[WORKERS_ENV] = str(task_workers(cpu, shared_state))
        self.container = self.task_definition.add_container(
            "gateway",
            image=image,
            essential=True,
            port_mappings=[ecs.PortMapping(container_port=CONTAINER_PORT)],
            environment=environment,
            secrets=secrets,
            # Blocking mode (the default): usage records are billing data and must not be
            # dropped; the gateway writes them from a thread, so a slow log pipe never
            # stalls request handling.
            logging=ecs.LogDrivers.aws_logs(stream_prefix="gateway", log_group=self.log_group),
            readonly_root_filesystem=True,
            health_check=ecs.HealthCheck(
                command=["CMD", "python", "-c", _HEALTH_COMMAND],
                interval=cdk.Duration.seconds(15), timeout=cdk.Duration.seconds(5),
                retries=3, start_period=cdk.Duration.seconds(20)),
            stop_timeout=cdk.Duration.seconds(stop_seconds),
            docker_labels={"skyrelay.config-sha256": hashlib.sha256(
                _TOKEN.sub("<deploy-time>", config).encode()).hexdigest()},
        )
        # The root file system is read-only; /tmp is the task's own scratch space.
        self.task_definition.add_volume(name="tmp")
        self.container.add_mount_points(ecs.MountPoint(
            container_path="/tmp", source_volume="tmp", read_only=False))
        acknowledge(
            self.task_definition,
            "The only plain environment values are the shared-state URL (host and port, no "
            "password) and the drain window in seconds; the config, the Redis password, "
            "tenant key hashes and provider credentials are all injected from Parameter "
            "Store and Secrets Manager",
            "AwsSolutions-ECS2")

        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc,
                                   container_insights_v2=ecs.ContainerInsights.ENHANCED)
        self.service = ecs.FargateService(
            self, "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=min_tasks,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=cdk.Duration.seconds(60),
            enable_execute_command=False,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        if self.shared_state_security_group is not None:
            self.shared_state_security_group.add_ingress_rule(
                self.security_group, ec2.Port.tcp(REDIS_PORT), "Valkey from gateway tasks")
            self.security_group.add_egress_rule(
                self.shared_state_security_group, ec2.Port.tcp(REDIS_PORT),
                "Valkey (shared limits and budgets)")

        self._add_load_balancer(vpc, subnets, cidrs, certificate_arn, request_timeout,
                                drain, deletion_protection)
        scaling = self.service.auto_scale_task_count(min_capacity=min_tasks,
                                                     max_capacity=max_tasks)
        scaling.scale_on_cpu_utilization(
            "Cpu", target_utilization_percent=cpu_target_percent,
            scale_out_cooldown=cdk.Duration.seconds(60),
            scale_in_cooldown=cdk.Duration.seconds(300))
        scaling.scale_on_request_count(
            "Requests", requests_per_target=requests_per_target_per_minute,
            target_group=self.target_group,
            scale_out_cooldown=cdk.Duration.seconds(60),
            scale_in_cooldown=cdk.Duration.seconds(300))
        self.alarms = self._alarms(error_rate_percent, p99_latency)
        if alarm_topic is not None:
            for alarm in self.alarms:
                alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))
                alarm.add_ok_action(cw_actions.SnsAction(alarm_topic))
        self._acknowledge_execution_role()

    # --- parts -----------------------------------------------------------------------------

    def _add_shared_state(self, vpc: ec2.IVpc, data_subnets: ec2.SubnetSelection | None,
                          node_type: str, replicas: int) -> None:
        wanted = data_subnets or ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        selection = vpc.select_subnets(
            availability_zones=wanted.availability_zones, one_per_az=wanted.one_per_az,
            subnet_filters=wanted.subnet_filters, subnet_group_name=wanted.subnet_group_name,
            subnet_type=wanted.subnet_type, subnets=wanted.subnets)
        self.shared_state_security_group = ec2.SecurityGroup(
            self, "SharedStateSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Gateway shared state: Valkey from the gateway tasks only")
        self.redis_auth_secret = secretsmanager.Secret(
            self, "SharedStateAuth",
            description="AUTH token of the gateway's Valkey group",
            encryption_key=self.encryption_key,
            # ElastiCache AUTH tokens: 16-128 printable characters, no punctuation trouble.
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64),
            removal_policy=cdk.RemovalPolicy.DESTROY,  # belongs to the cache, goes with it
        )
        acknowledge(
            self.redis_auth_secret,
            "Rotating an ElastiCache AUTH token is a two-step change on the replication "
            "group (ROTATE then SET) coordinated with every gateway task; it is done by a "
            "deploy with a new token, not by a Secrets Manager rotation function",
            "AwsSolutions-SMG4", "NIST.800.53.R5-SecretsManagerRotationEnabled")
        subnet_group = elasticache.CfnSubnetGroup(
            self, "SharedStateSubnets",
            description="Isolated subnets of the gateway's shared state",
            subnet_ids=selection.subnet_ids,
        )
        multi_az = replicas > 0 and len(selection.availability_zones) > 1
        self.shared_state = elasticache.CfnReplicationGroup(
            self, "SharedState",
            replication_group_description="skyrelay gateway shared limits and budgets",
            engine="valkey",
            engine_version="8.0",
            cache_node_type=node_type,
            num_node_groups=1,
            replicas_per_node_group=replicas,
            automatic_failover_enabled=replicas > 0,
            multi_az_enabled=multi_az,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            kms_key_id=self.encryption_key.key_arn,
            auth_token=self.redis_auth_secret.secret_value.unsafe_unwrap(),
            port=REDIS_PORT,
            cache_subnet_group_name=subnet_group.ref,
            security_group_ids=[self.shared_state_security_group.security_group_id],
            snapshot_retention_limit=15,  # budgets: a half-month of daily restore points
            auto_minor_version_upgrade=True,
        )
        # Budgets spent this month live here: keep a final snapshot if the group goes.
        self.shared_state.apply_removal_policy(cdk.RemovalPolicy.SNAPSHOT)
        self.shared_state.add_resource_dependency(subnet_group)
        if not multi_az:
            acknowledge(
                self.shared_state,
                "Only one availability zone (or no replica) was given, so there is no "
                "second zone to fail over to; the gateway fails closed on budgets while "
                "the node is replaced",
                "AwsSolutions-AEC4")

    def _add_load_balancer(self, vpc: ec2.IVpc, subnets: ec2.SubnetSelection,
                           cidrs: list[str], certificate_arn: str | None,
                           request_timeout: cdk.Duration, drain_seconds: float,
                           deletion_protection: bool) -> None:
        lb_sg = ec2.SecurityGroup(self, "LoadBalancerSecurityGroup", vpc=vpc,
                                  allow_all_outbound=False,
                                  description="Gateway load balancer: clients inside the VPC")
        port = 443 if certificate_arn else 80
        for cidr in cidrs:
            lb_sg.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(port),
                                   f"{'HTTPS' if certificate_arn else 'HTTP'} from the VPC")
        if any(cdk.Token.is_unresolved(c) for c in cidrs):
            acknowledge(
                lb_sg,
                "The ingress source is the VPC's own CIDR block, resolved only at deploy "
                "time (pass allowed_cidrs literally to let the check see it); nothing is "
                "open to the internet",
                "AwsSolutions-EC23", "NIST.800.53.R5-EC2RestrictedCommonPorts",
                "NIST.800.53.R5-EC2RestrictedSSH")
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self, "LoadBalancer",
            vpc=vpc,
            vpc_subnets=subnets,
            internet_facing=False,
            security_group=lb_sg,
            drop_invalid_header_fields=True,
            deletion_protection=deletion_protection,
            # Longer than the longest request, so a slow non-streamed answer is not cut off.
            idle_timeout=cdk.Duration.seconds(min(request_timeout.to_seconds() + 30, 4000)),
        )
        self._add_access_logs()
        if certificate_arn:
            self.listener = self.load_balancer.add_listener(
                "Https", port=443, protocol=elbv2.ApplicationProtocol.HTTPS, open=False,
                certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS)
        else:
            self.listener = self.load_balancer.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=False)
            acknowledge(
                self.load_balancer,
                "Plain HTTP was chosen explicitly (plain_http=True, the spec's documented "
                "opt-out, flagged by skyrelay plan and check as SKY-AWS-010); the internal "
                "load balancer's security group admits only the VPC's own address range and "
                "it has no public address",
                "NIST.800.53.R5-ALBHttpToHttpsRedirection",
                "NIST.800.53.R5-ELBv2ACMCertificateRequired")
        acknowledge(
            self.load_balancer,
            "The load balancer is internal and reachable only from inside the VPC; "
            "requests are authenticated per tenant by the gateway itself, and WAF's managed "
            "rules target internet-facing web traffic, not API calls between internal services",
            "NIST.800.53.R5-ALBWAFEnabled")
        self.target_group = self.listener.add_targets(
            "Gateway",
            port=CONTAINER_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service.load_balancer_target(container_name="gateway",
                                                       container_port=CONTAINER_PORT)],
            health_check=elbv2.HealthCheck(
                path="/readyz", healthy_http_codes="200",
                interval=cdk.Duration.seconds(15), timeout=cdk.Duration.seconds(5),
                healthy_threshold_count=2, unhealthy_threshold_count=3),
            # In-flight requests (up to the longest route timeout) finish before SIGTERM.
            deregistration_delay=cdk.Duration.seconds(int(drain_seconds)),
        )
        scheme = "https" if certificate_arn else "http"
        self.url = f"{scheme}://{self.load_balancer.load_balancer_dns_name}"

    def _add_access_logs(self) -> None:
        self.access_log_bucket = s3.Bucket(
            self, "AccessLogs",
            # ALB log delivery accepts only SSE-S3 buckets (not SSE-KMS).
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365),
                                              noncurrent_version_expiration=cdk.Duration.days(30))],
        )
        acknowledge(
            self.access_log_bucket,
            "Elastic Load Balancing delivers access logs only to buckets encrypted with "
            "S3-managed keys; SSE-KMS is not supported for this destination, so the bucket "
            "uses SSE-S3 and enforces TLS instead",
            "NIST.800.53.R5-S3DefaultEncryptionKMS")
        acknowledge(
            self.access_log_bucket,
            "This bucket is itself the access-log destination of the load balancer; logging "
            "its own reads would need another log bucket, and object access to it is "
            "recorded by CloudTrail S3 data events",
            "AwsSolutions-S1", "NIST.800.53.R5-S3BucketLoggingEnabled")
        acknowledge(
            self.access_log_bucket,
            "Replicating load balancer logs to another region would move request metadata "
            "out of the region the data-residency rules keep it in; versioning and RETAIN "
            "protect the objects within the region",
            "NIST.800.53.R5-S3BucketReplicationEnabled")
        self.load_balancer.log_access_logs(self.access_log_bucket, prefix="gateway")

    def _alarms(self, error_rate_percent: float,
                p99_latency: cdk.Duration) -> list[cloudwatch.Alarm]:
        metrics = self.load_balancer.metrics
        period = cdk.Duration.minutes(5)
        error_rate = cloudwatch.MathExpression(
            # RequestCount leaves out requests the load balancer answered itself (ELB 5xx,
            # e.g. with no healthy target), so those are added to the denominator.
            expression="IF(FILL(requests, 0) + FILL(e5, 0) > 0, 100 * (FILL(t5, 0) + "
                       "FILL(e5, 0)) / (FILL(requests, 0) + FILL(e5, 0)), 0)",
            using_metrics={
                "t5": metrics.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT,
                                               period=period, statistic="Sum"),
                "e5": metrics.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT,
                                            period=period, statistic="Sum"),
                "requests": metrics.request_count(period=period, statistic="Sum"),
            },
            label="5xx responses (%)",
            period=period,
        )
        five_xx = error_rate.create_alarm(
            self, "ErrorRateAlarm",
            threshold=error_rate_percent, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"Gateway: more than {error_rate_percent}% of responses were "
                              "5xx (target or load balancer) in 5 minutes")
        # TargetResponseTime is in (fractional) seconds; a threshold of 250 ms is 0.25.
        p99_seconds = p99_latency.to_milliseconds() / 1000
        latency = self.target_group.metrics.target_response_time(
            period=period, statistic="p99").create_alarm(
            self, "LatencyP99Alarm",
            threshold=p99_seconds, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"Gateway: p99 time to response headers above "
                              f"{p99_seconds:g} s")
        no_targets = self.target_group.metrics.healthy_host_count(
            period=cdk.Duration.minutes(1), statistic="Minimum").create_alarm(
            self, "NoHealthyTargetsAlarm",
            threshold=1, evaluation_periods=2,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            # No data means no target reported healthy.
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description="Gateway: no healthy task behind the load balancer for 2 minutes")
        return [five_xx, latency, no_targets]

    def _acknowledge_execution_role(self) -> None:
        role = self.task_definition.execution_role
        if role is None:  # pragma: no cover - Fargate always has one once secrets exist
            return
        acknowledge(role, INLINE_POLICY_REASON, "NIST.800.53.R5-IAMNoInlinePolicy")
        acknowledge(
            role,
            "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires "
            "Resource '*'); every other statement of the execution role names this "
            "service's repository, log group, parameter and secrets",
            "AwsSolutions-IAM5[Resource::*]")
        acknowledge(self.task_role, INLINE_POLICY_REASON, "NIST.800.53.R5-IAMNoInlinePolicy")


def gateway_metric(metric_name: str, dimension: str, value: str,
                   statistic: str = "Sum") -> cloudwatch.Metric:
    """One metric the gateway's EMF usage records produce, for one route or tenant."""
    return cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=metric_name,
                             dimensions_map={dimension: value}, statistic=statistic,
                             period=cdk.Duration.minutes(5), label=value)


def gateway_widgets(routes: Sequence[str], tenants: Sequence[str]) -> list[cloudwatch.IWidget]:
    """Dashboard widgets of the gateway's EMF metrics (namespace ``Skyrelay/Gateway``):
    requests, errors, latency and time to first token per route; tokens and cost per tenant.
    """
    routes, tenants = list(dict.fromkeys(routes)), list(dict.fromkeys(tenants))

    def graph(title: str, name: str, dim: str, values: list[str], stat: str = "Sum",
              width: int = 8) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(title=title, width=width, left=[
            gateway_metric(name, dim, v, stat) for v in values])

    return [
        cloudwatch.TextWidget(
            markdown="# Gateway\nUsage records (CloudWatch EMF, namespace "
                     f"`{METRICS_NAMESPACE}`); counts are 5-minute sums.",
            width=24, height=2),
        graph("Requests by route", "Requests", "Route", routes),
        graph("Errors by route", "Errors", "Route", routes),
        graph("Latency p99 by route (ms)", "Latency", "Route", routes, "p99"),
        graph("Latency p50 by route (ms)", "Latency", "Route", routes, "p50"),
        graph("Time to first token p99 (ms)", "TimeToFirstToken", "Route", routes, "p99"),
        graph("Cost by tenant", "Cost", "Tenant", tenants),
        graph("Input tokens by tenant", "InputTokens", "Tenant", tenants, width=12),
        graph("Output tokens by tenant", "OutputTokens", "Tenant", tenants, width=12),
    ]
