"""Per-region gateway stack: the gateway service from the spec, wired to the region's stacks.

The container image is built from the gateway's Dockerfile as a CDK asset for
``linux/arm64``, with a build context staged from the *installed* skyrelay
(:mod:`skyrelay.stacks.gateway_image`), so it works from a wheel as from this repository.
``cdk synth`` only
stages and fingerprints the build context; Docker runs at ``cdk deploy``, when the asset is
published.

Secrets, all in Secrets Manager under a customer-managed key and given to the tasks as ECS
secrets (never as plain environment values):

* every key reference of a tenant (and of an OpenAI-compatible upstream) in the spec:
  ``{secret: NAME}`` -> secret ``NAME``, environment ``SKYRELAY_SECRET_<NAME>``;
  ``{env: VAR}`` -> secret ``skyrelay/<platform>/env/VAR``, environment ``VAR``. Each is
  created with a random placeholder that matches no key; store the real value (for a
  tenant, the hash ``skyrelay keys new`` prints) with
  ``aws secretsmanager put-secret-value --secret-id NAME --secret-string VALUE``;
* with Azure targets, ``skyrelay/<platform>/gateway/azure-credential``: a JSON object with
  ``tenant_id``, ``client_id`` and ``client_secret`` of the gateway's Entra identity,
  injected as ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID`` and ``AZURE_CLIENT_SECRET`` (what
  azure-identity's environment credential reads).

Shared state (Valkey) exists when ``gateway.max_tasks`` > 1: with one task at most, the
in-process state is exact and a cache would only cost money.

CDK context (``cdk deploy -c KEY=VALUE``):

* ``skyrelay:link`` - a folder written by ``skyrelay link``; the gateway config stored in
  the parameter is then the linked one (refused when stale), else the spec-derived one.

Per region (issue 20): the config holds only the targets this region's gateway can call
(:mod:`skyrelay.views.reachability`); Bedrock models of the regions listed under
``gateway.cross_region_bedrock.<region>`` are granted by a second statement *without* the
VPC-endpoint condition (that traffic leaves the VPC through NAT); the region's guardrails
(one per content filter) are granted (``bedrock:ApplyGuardrail``) and their ids and versions
written into the config. The listener's TLS follows ``gateway.tls``: a private CA and
certificate created here (with a private hosted zone naming the load balancer), an ACM
certificate ARN, or the explicit ``plain-http`` opt-out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from skyrelay.constructs.bedrock_access import BedrockModelAccess
from skyrelay.constructs.gateway_service import GatewayService, gateway_widgets
from skyrelay.constructs.gateway_tracing import AdotXraySidecar
from skyrelay.constructs.guardrails import ModelGuardrail
from skyrelay.constructs.network import IPrivateModelNetwork
from skyrelay.constructs.observability import ModelObservability
from skyrelay.constructs.private_certificate import PrivateCaCertificate
from skyrelay.constructs.secure_defaults import acknowledge, data_key
from skyrelay.gateway.envnames import AZURE_CREDENTIAL_FIELDS, reference_env_name
from skyrelay.link import (
    PARAMETER_OUTPUT,
    TASK_ROLE_OUTPUT,
    config_json,
    config_parameter_name,
    load_linked_config,
)
from skyrelay.spec import Spec
from skyrelay.spec.models import SecretRef
from skyrelay.stacks.common import RegionStack, retention
from skyrelay.stacks.gateway_image import stage_build_context
from skyrelay.views.bedrock_arns import bedrock_invoke_arns
from skyrelay.views.gateway_config import gateway_config, with_guardrails

LINK_CONTEXT_KEY = "skyrelay:link"
_PLACEHOLDER_REASON = (
    "The secret's value is set by the operator (a tenant key hash from `skyrelay keys new`, "
    "an upstream key, or the gateway's Entra credential) and replaced by issuing a new one; "
    "a rotation function could not create a value another system must accept")


def gateway_image(context: Path | None = None) -> ecs.ContainerImage:
    """The gateway image as a CDK asset for ARM64, built from ``context`` (default: staged
    from the installed skyrelay by :func:`stage_build_context`)."""
    folder = context or stage_build_context()
    return ecs.ContainerImage.from_asset(
        str(folder), file="Dockerfile", platform=ecr_assets.Platform.LINUX_ARM64)


def reference_secrets(spec: Spec) -> dict[str, str]:
    """Environment variable -> Secrets Manager secret name, for every key reference."""
    refs: list[SecretRef] = [t.api_key for t in spec.tenants]
    refs += [ep.api_key for ep in spec.openai_compatible if ep.api_key is not None]
    refs += [m.api_key for r in (spec.aws.regions.values() if spec.aws else ())
             for m in r.bedrock_models if m.api_key is not None]  # Bedrock API keys
    out: dict[str, str] = {}
    for ref in refs:
        # the variable the gateway reads the reference from (skyrelay.gateway.envnames)
        env_name = reference_env_name(ref.model_dump(exclude_none=True))
        out[env_name] = ref.secret if ref.secret is not None \
            else f"skyrelay/{spec.name}/env/{ref.env}"
    return dict(sorted(out.items()))


def azure_credential_secret_name(platform: str) -> str:
    """Name of the secret holding the gateway's Entra credential."""
    return f"skyrelay/{platform}/gateway/azure-credential"


class GatewayStack(RegionStack):
    """The gateway in one region: :attr:`gateway` (a :class:`GatewayService`)."""

    def __init__(self, scope: Construct, id: str, *, spec: Spec, region: str,
                 network: IPrivateModelNetwork, model_access: BedrockModelAccess | None,
                 observability: ModelObservability, link_dir: Path | None = None,
                 guardrails: dict[str, ModelGuardrail] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(scope, id, spec=spec, region=region, **kwargs)
        guardrails = guardrails or {}
        config = (load_linked_config(link_dir, spec, region) if link_dir is not None
                  else gateway_config(spec, region))
        # Deploy-time ids of this region's guardrails (tokens, resolved in the parameter);
        # the definition digest is plain text, so a new guardrail version changes the
        # config's hash label and rolls the tasks onto it.
        config = with_guardrails(config, {
            name: {region: {"identifier": g.guardrail_id, "version": g.version,
                            "definition": g.definition_digest}}
            for name, g in sorted(guardrails.items())})
        key = data_key(self, "Key", f"{spec.name} gateway in {region}")

        secrets: dict[str, ecs.Secret] = {}
        for env_name, secret_name in reference_secrets(spec).items():
            secret = self._placeholder_secret(f"Ref{env_name}", secret_name, key,
                                              f"skyrelay {spec.name}: value for {env_name}")
            secrets[env_name] = ecs.Secret.from_secrets_manager(secret)
        self.azure_credential: secretsmanager.Secret | None = None
        if any(t["cloud"] == "azure" for t in config["targets"].values()):
            self.azure_credential = self._placeholder_secret(
                "AzureCredential", azure_credential_secret_name(spec.name), key,
                f"skyrelay {spec.name}: Entra credential of the gateway (JSON)",
                json_fields=("tenant_id", "client_id"), generated_field="client_secret")
            for env_name, field_name in AZURE_CREDENTIAL_FIELDS.items():
                secrets[env_name] = ecs.Secret.from_secrets_manager(self.azure_credential,
                                                                    field_name)

        gw = spec.gateway
        alarms = spec.aws.alarms if spec.aws else None
        certificate_arn: str | None = None
        self.private_certificate: PrivateCaCertificate | None = None
        if gw.tls.certificate == "acm":
            certificate_arn = gw.tls.certificate_arns[region]
        elif gw.tls.certificate == "private-ca":
            self.private_certificate = PrivateCaCertificate(
                self, "Tls", domain_name=gw.tls.domain_for(spec.name, region),
                organization=spec.name)
            certificate_arn = self.private_certificate.certificate_arn
        self.gateway = GatewayService(
            self, "Gateway",
            vpc=network.vpc,
            # The literal range (not the VPC's token) lets cdk-nag see the source is private.
            allowed_cidrs=[spec.aws.regions[region].vpc_cidr] if spec.aws else None,
            vpc_subnets=network.workload_subnets,
            data_subnets=network.data_subnets,
            image=gateway_image(),
            config=config_json(config),
            config_parameter_name=config_parameter_name(spec.name),
            secrets=secrets,
            certificate_arn=certificate_arn,
            plain_http=gw.tls.certificate == "plain-http",
            cpu=gw.cpu, memory_mib=gw.memory_mib,
            min_tasks=gw.min_tasks, max_tasks=gw.max_tasks,
            request_timeout=cdk.Duration.seconds(
                max(int(r.timeout_seconds) for r in spec.routes)),
            log_retention=retention(gw.log_retention_days),
            encryption_key=key,
            shared_state=gw.max_tasks > 1,
            p99_latency=cdk.Duration.millis(alarms.p99_latency_ms) if alarms
            else cdk.Duration.seconds(30),
        )
        self.tracing: AdotXraySidecar | None = None
        if gw.tracing.exporter == "adot-xray":  # the config sends spans to this sidecar
            self.tracing = AdotXraySidecar(
                self, "Tracing", task_definition=self.gateway.task_definition,
                task_role=self.gateway.task_role, log_group=self.gateway.log_group,
                app_container=self.gateway.container,
                image=(ecs.ContainerImage.from_registry(gw.tracing.collector_image)
                       if gw.tracing.collector_image else None))
        if model_access is not None:
            model_access.grant_invoke(self.gateway.task_role)
        self._grant_cross_region(spec, region)
        for guardrail in guardrails.values():
            guardrail.grant_apply(self.gateway.task_role)
        self.url = self.gateway.url
        if self.private_certificate is not None:
            # The certificate names the domain, not the load balancer's own DNS name: a
            # private zone in the VPC resolves the domain to the load balancer.
            domain = gw.tls.domain_for(spec.name, region)
            zone = route53.PrivateHostedZone(self, "Zone", zone_name=domain, vpc=network.vpc,
                                             comment=f"skyrelay {spec.name}: gateway name")
            route53.ARecord(self, "GatewayName", zone=zone,
                            target=route53.RecordTarget.from_alias(
                                route53_targets.LoadBalancerTarget(
                                    self.gateway.load_balancer)))
            self.url = f"https://{domain}"
            cdk.CfnOutput(self, "CertificateAuthorityArn",
                          value=self.private_certificate.ca_arn,
                          description="Clients trust this CA's certificate (aws acm-pca "
                                      "get-certificate-authority-certificate)")
        observability.add_widgets(*gateway_widgets(
            routes=[r.name for r in spec.routes], tenants=[t.name for t in spec.tenants]))
        for alarm in self.gateway.alarms:
            observability.add_alarm(alarm)

        cdk.CfnOutput(self, "GatewayUrl", value=self.url,
                      description="OpenAI-compatible base URL is <GatewayUrl>/v1 (VPC only)")
        cdk.CfnOutput(self, TASK_ROLE_OUTPUT, value=self.gateway.task_role.role_arn,
                      description="The gateway's AWS identity (read by skyrelay link)")
        cdk.CfnOutput(self, PARAMETER_OUTPUT,
                      value=self.gateway.config_parameter.parameter_name,
                      description="SSM parameter holding the gateway config")
        cdk.CfnOutput(self, "ClusterName", value=self.gateway.cluster.cluster_name)
        cdk.CfnOutput(self, "ServiceName", value=self.gateway.service.service_name)
        if self.azure_credential is not None:
            cdk.CfnOutput(self, "AzureCredentialSecretArn",
                          value=self.azure_credential.secret_arn)

    def _grant_cross_region(self, spec: Spec, region: str) -> None:
        """Invoke on the Bedrock models of the regions ``gateway.cross_region_bedrock`` lists
        for this region: without the VPC-endpoint condition (the calls go to the other
        region's public endpoint through NAT; pinned with aws:RequestedRegion), for exactly
        those regions' model ARNs."""
        assert spec.aws is not None
        account = spec.aws.account or self.account
        for other in spec.gateway.cross_region_bedrock.get(region, ()):
            arns = bedrock_invoke_arns(spec, other, account)
            if not arns.all():
                continue
            BedrockModelAccess(
                self, f"CrossRegion-{other}",
                foundation_model_arns=arns.direct_models,
                inference_profile_arns=arns.inference_profiles,
                profile_foundation_model_arns=dict(arns.profile_models),
                requested_region=other,
                sid="InvokeOutsideVpc" + "".join(p.capitalize() for p in other.split("-")),
            ).grant_invoke(self.gateway.task_role)

    def _placeholder_secret(self, id: str, name: str, key: Any, description: str, *,
                            json_fields: tuple[str, ...] = (),
                            generated_field: str | None = None) -> secretsmanager.Secret:
        generator = secretsmanager.SecretStringGenerator(
            exclude_punctuation=True, password_length=48,
            secret_string_template=json.dumps(dict.fromkeys(json_fields, ""))
            if generated_field else None,
            generate_string_key=generated_field)
        secret = secretsmanager.Secret(
            self, id, secret_name=name, description=description, encryption_key=key,
            generate_secret_string=generator,
            # Operator-set credentials: a deleted stack must not take them along.
            removal_policy=cdk.RemovalPolicy.RETAIN)
        acknowledge(secret, _PLACEHOLDER_REASON, "AwsSolutions-SMG4",
                    "NIST.800.53.R5-SecretsManagerRotationEnabled")
        return secret
