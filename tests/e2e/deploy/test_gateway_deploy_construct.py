"""GatewayService used alone, as a user's own CDK app would, and the stack on a minimal spec.

One small app holds three stacks built from constructs only (no spec): HTTPS with a
given certificate and no shared state, the defaults with a private CA's certificate, and
the explicit plain-HTTP opt-out. A second app is the minimal spec (one
region, no Azure: a VPC without NAT). Both are checked by the cdk-nag packs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
CERT = "arn:aws:acm:us-east-1:111122223333:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
CONFIG = json.dumps({"version": 1, "name": "demo"})


def _nag(app: Any) -> list[tuple[str, list[str]]]:
    import cdk_nag

    found = []
    for pack in (cdk_nag.AwsSolutionsChecks, cdk_nag.NIST80053R5Checks):
        for violation in pack(app).validate_scope(app).violations:
            found.append((violation.rule_name,
                          [r.construct_path for r in violation.violating_resources]))
    return found


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two stacks from constructs only, synthesized once."""
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_sns as sns

    from skyrelay.constructs.gateway_service import GatewayService
    from skyrelay.constructs.private_certificate import PrivateCaCertificate

    app = cdk.App(outdir=str(tmp_path_factory.mktemp("alone")))
    env = cdk.Environment(region="us-east-1")
    made = {}
    for name, kwargs in {
        "Https": {"certificate_arn": CERT, "shared_state": False, "min_tasks": 1,
                  "max_tasks": 3, "allowed_cidrs": ["10.0.0.0/16"]},
        "Defaults": {},
        "PlainHttp": {"plain_http": True, "shared_state": False, "min_tasks": 1},
    }.items():
        stack = cdk.Stack(app, name, env=env)
        if name == "Defaults":
            kwargs = {"alarm_topic": sns.Topic(stack, "Alarms"),
                      "certificate_arn": PrivateCaCertificate(
                          stack, "Tls", domain_name="gateway.demo.internal").certificate_arn}
        vpc = ec2.Vpc(stack, "Vpc", ip_addresses=ec2.IpAddresses.cidr("10.0.0.0/16"),
                      availability_zones=["us-east-1a", "us-east-1b"], nat_gateways=1,
                      subnet_configuration=[
                          ec2.SubnetConfiguration(name="public", cidr_mask=24,
                                                  subnet_type=ec2.SubnetType.PUBLIC),
                          ec2.SubnetConfiguration(name="app", cidr_mask=20,
                                                  subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
                          ec2.SubnetConfiguration(name="data", cidr_mask=24,
                                                  subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])
        made[name] = GatewayService(
            stack, "Gateway", vpc=vpc, config=CONFIG,
            image=ecs.ContainerImage.from_registry("ghcr.io/example/skyrelay-gateway:1.0.0"),
            **kwargs)
    assembly = app.synth()
    templates = {s.stack_name: s.template for s in assembly.stacks}
    return {"app": app, "templates": templates, "made": made}


def test_https_listener_when_a_certificate_is_given(alone: dict[str, Any], cfn: Any) -> None:
    template = alone["templates"]["Https"]
    (listener,) = cfn.resources(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    props = listener["Properties"]
    assert (props["Protocol"], props["Port"]) == ("HTTPS", 443)
    assert props["Certificates"] == [{"CertificateArn": CERT}]
    assert props["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    _, lb = cfn.only(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert lb["Properties"]["Scheme"] == "internal"
    ingress = [r for g in cfn.resources(template, "AWS::EC2::SecurityGroup").values()
               for r in g["Properties"].get("SecurityGroupIngress", [])]
    assert [(r["CidrIp"], r["FromPort"]) for r in ingress] == [("10.0.0.0/16", 443)]
    assert alone["made"]["Https"].url.startswith("https://")


def test_without_shared_state_there_is_no_cache_and_no_redis_setting(alone: dict[str, Any],
                                                                    cfn: Any) -> None:
    template = alone["templates"]["Https"]
    assert cfn.resources(template, "AWS::ElastiCache::ReplicationGroup") == {}
    _, task = cfn.only(template, "AWS::ECS::TaskDefinition")
    (container,) = task["Properties"]["ContainerDefinitions"]
    # no Redis setting; the plain values are the drain window, set with the stop timeout,
    # and one worker (in-process limits are right in one process only, whatever the size)
    assert container["Environment"] == [{"Name": "SKYRELAY_DRAIN_SECONDS",
                                         "Value": str(container["StopTimeout"] - 10)},
                                        {"Name": "SKYRELAY_WORKERS", "Value": "1"}]
    assert 60 <= container["StopTimeout"] <= 120
    assert [s["Name"] for s in container["Secrets"]] == ["SKYRELAY_GATEWAY_CONFIG"]


def test_defaults_are_https_from_the_vpc_with_shared_state(alone: dict[str, Any],
                                                          cfn: Any) -> None:
    # TLS by default (issue 20, failure 4): tenant keys and prompts never cross the VPC in
    # clear text; the certificate here is the private CA's (AWS::CertificateManager::
    # Certificate with CertificateAuthorityArn).
    template = alone["templates"]["Defaults"]
    (listener,) = cfn.resources(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    props = listener["Properties"]
    assert (props["Protocol"], props["Port"]) == ("HTTPS", 443)
    assert props["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    (cert_id, cert), = cfn.resources(template, "AWS::CertificateManager::Certificate").items()
    assert props["Certificates"] == [{"CertificateArn": {"Ref": cert_id}}]
    (ca_id,) = cfn.resources(template, "AWS::ACMPCA::CertificateAuthority")
    assert cert["Properties"]["CertificateAuthorityArn"] == {"Fn::GetAtt": [ca_id, "Arn"]}
    assert cert["Properties"]["DomainName"] == "gateway.demo.internal"
    (lb_group,) = [g for k, g in cfn.resources(template, "AWS::EC2::SecurityGroup").items()
                   if k.startswith("GatewayLoadBalancerSecurityGroup")]
    (rule,) = lb_group["Properties"]["SecurityGroupIngress"]
    assert rule["CidrIp"] == {"Fn::GetAtt": ["Vpc8378EB38", "CidrBlock"]}  # the VPC itself
    assert rule["FromPort"] == 443
    _, cache = cfn.only(template, "AWS::ElastiCache::ReplicationGroup")
    assert cache["Properties"]["TransitEncryptionEnabled"] is True
    _, subnets = cfn.only(template, "AWS::ElastiCache::SubnetGroup")
    assert all("dataSubnet" in s["Ref"] for s in subnets["Properties"]["SubnetIds"])


def test_plain_http_only_as_the_explicit_opt_out(alone: dict[str, Any], cfn: Any) -> None:
    template = alone["templates"]["PlainHttp"]
    (listener,) = cfn.resources(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    assert (listener["Properties"]["Protocol"], listener["Properties"]["Port"]) == ("HTTP", 80)
    assert alone["made"]["PlainHttp"].url.startswith("http://")


def test_the_constructs_alone_pass_both_compliance_packs(alone: dict[str, Any]) -> None:
    # The test's own plain VPC and topic have findings of their own (no flow logs ...).
    # The gateway has one only where no alarm topic was given: alarms nobody hears.
    found = _nag(alone["app"])
    assert any("/Vpc/" in p for _, paths in found for p in paths)  # the packs did run
    gateway = {(rule, p.split("/Gateway/")[1]) for rule, paths in found for p in paths
               if p.startswith(("Https/Gateway/", "Defaults/Gateway/", "PlainHttp/Gateway/"))}
    assert gateway == {("NIST.800.53.R5-CloudWatchAlarmAction", f"{alarm}/Resource")
                       for alarm in ("ErrorRateAlarm", "LatencyP99Alarm",
                                     "NoHealthyTargetsAlarm")}
    assert not any(p.startswith(("Defaults/Gateway/", "Defaults/Tls/"))
                   for _, paths in found for p in paths)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"config": "x" * 8193}, "8193 bytes; an SSM parameter holds at most 8192"),
    ({"allowed_cidrs": ["0.0.0.0/0"]}, "allowed_cidrs must name private ranges"),
    ({"allowed_cidrs": ["10.0.0.0/8", "8.8.8.0/24"]}, "not ['8.8.8.0/24']"),
    ({"environment": {"SKYRELAY_GATEWAY_CONFIG": "{}"}}, "set by GatewayService itself"),
    ({"environment": {"A": "1"}, "secrets": {"A": None}}, "given both as a secret"),
    ({"min_tasks": 3, "max_tasks": 2}, "min_tasks (3) <= max_tasks (2)"),
    # TLS by default: no certificate needs the explicit opt-out, and not both.
    ({"certificate_arn": None}, "give certificate_arn"),
    ({"plain_http": True}, "exclude each other"),
])
def test_bad_props_are_refused(kwargs: dict[str, Any], message: str) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs

    from skyrelay.constructs.gateway_service import GatewayService

    stack = cdk.Stack(cdk.App(), "Bad")
    vpc = ec2.Vpc(stack, "Vpc", availability_zones=["us-east-1a", "us-east-1b"])
    args: dict[str, Any] = {"config": CONFIG, "certificate_arn": CERT, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        GatewayService(stack, "Gateway", vpc=vpc,
                       image=ecs.ContainerImage.from_registry("example:1"), **args)


def test_each_key_reference_reaches_the_gateway_under_the_name_it_reads() -> None:
    # The stack injects each tenant's key hash under an environment name; the gateway's key
    # reader must find it there, or no tenant could authenticate in ECS.
    from skyrelay.gateway.config import GatewayConfig
    from skyrelay.gateway.tenancy.keys import HashedKeys, new_key
    from skyrelay.spec import load_spec
    from skyrelay.stacks.gateway import reference_secrets
    from skyrelay.views.gateway_config import gateway_config

    for spec_file in ("platform.yaml", "minimal.yaml"):
        spec = load_spec(REPO / "examples" / spec_file)
        config = GatewayConfig.from_dict(gateway_config(spec))
        names = reference_secrets(spec)
        keys, environ = {}, {}
        for tenant in spec.tenants:
            ref = tenant.api_key
            env_name = ref.env or next(e for e, s in names.items() if s == ref.secret)
            key, stored = new_key()
            keys[tenant.name], environ[env_name] = key, stored
        auth = HashedKeys(config, environ=environ)
        for tenant, key in keys.items():
            found = auth.authenticate(f"Bearer {key}", None)
            assert found is not None and found.name == tenant


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The minimal spec's app (one region, no Azure), synthesized once."""
    import aws_cdk as cdk

    from skyrelay.cdk_app import compose_app
    from skyrelay.spec import load_spec

    app = cdk.App(outdir=str(tmp_path_factory.mktemp("minimal")))
    compose_app(load_spec(REPO / "examples" / "minimal.yaml"), app, checks=False)
    templates = {s.stack_name: s.template for s in app.synth().stacks}
    return {"app": app, "templates": templates}


def test_minimal_spec_gateway_without_nat_or_azure(minimal: dict[str, Any], cfn: Any) -> None:
    templates = minimal["templates"]
    network, gateway = templates["minimal-us-east-1-network"], templates[
        "minimal-us-east-1-gateway"]
    # No target outside AWS: no NAT, no egress addresses, no Azure credential.
    assert cfn.resources(network, "AWS::EC2::NatGateway") == {}
    assert "GatewayEgressIps" not in network.get("Outputs", {})
    assert "AzureCredentialSecretArn" not in gateway["Outputs"]
    _, task = cfn.only(gateway, "AWS::ECS::TaskDefinition")
    (container,) = task["Properties"]["ContainerDefinitions"]
    injected = {s["Name"] for s in container["Secrets"]}
    # The tenant's {env: SKYRELAY_KEY_APP} reference arrives under that very name.
    assert injected == {"SKYRELAY_KEY_APP", "SKYRELAY_REDIS_PASSWORD", "SKYRELAY_GATEWAY_CONFIG"}
    names = {s["Properties"]["Name"] for s in cfn.resources(
        gateway, "AWS::SecretsManager::Secret").values() if "Name" in s["Properties"]}
    assert names == {"skyrelay/minimal/env/SKYRELAY_KEY_APP"}
    # Service and cache share the isolated subnets (the VPC has no others).
    _, service = cfn.only(gateway, "AWS::ECS::Service")
    subnets = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
    assert all("isolatedSubnet" in cfn.render(s) for s in subnets)


def test_minimal_spec_passes_both_compliance_packs(minimal: dict[str, Any]) -> None:
    assert _nag(minimal["app"]) == []
