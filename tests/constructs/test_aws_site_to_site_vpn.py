"""SiteToSiteVpn used alone (no spec): what the template must hold for the path to be private.

One app, synthesized once, holds two stacks: one VPC through a virtual private gateway (the
Microsoft AWS-BGP layout: two Azure gateway instances, four tunnels) and two VPCs through a
Transit Gateway. Each assertion says why the property matters.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

AZURE_IPS = ("20.61.10.1", "20.61.10.2")
AZURE_ASN = 65515
AZURE_CIDR = "10.100.0.0/22"
RESOLVER_IP = "10.100.2.4"
HOSTNAMES = ("contoso-eu.openai.azure.com", "contoso-eu.privatelink.openai.azure.com")
ZONES = ["eu-west-1a", "eu-west-1b"]


def _vpc(stack: Any, name: str, cidr: str) -> Any:
    from aws_cdk import aws_ec2 as ec2

    return ec2.Vpc(stack, name, ip_addresses=ec2.IpAddresses.cidr(cidr),
                   availability_zones=ZONES, nat_gateways=0,
                   subnet_configuration=[
                       ec2.SubnetConfiguration(name="private", cidr_mask=24,
                                               subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
                       ec2.SubnetConfiguration(name="data", cidr_mask=24,
                                               subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_sns as sns

    from skyrelay.constructs.site_to_site_vpn import (
        DnsForwarding,
        RemoteVpnGateway,
        RoutedNetwork,
        SiteToSiteVpn,
    )

    app = cdk.App()
    env = cdk.Environment(account="111122223333", region="eu-west-1")
    made: dict[str, Any] = {"app": app}
    private = ec2.SubnetSelection(subnet_group_name="private")
    for name, cidrs in {"OneVpc": ["10.20.0.0/16"],
                        "TwoVpcs": ["10.20.0.0/16", "10.30.0.0/16"]}.items():
        stack = cdk.Stack(app, name, env=env)
        vpcs = [_vpc(stack, f"Vpc{i}", c) for i, c in enumerate(cidrs)]
        topic = sns.Topic(stack, "Alarms", enforce_ssl=True,
                          master_key=kms.Key(stack, "TopicKey", enable_key_rotation=True))
        made[name] = SiteToSiteVpn(
            stack, "ToAzure",
            networks=[RoutedNetwork(vpc=v, subnets=private) for v in vpcs],
            remote_gateways=[RemoteVpnGateway(ip) for ip in AZURE_IPS],
            remote_asn=AZURE_ASN, remote_cidrs=[AZURE_CIDR],
            dns=DnsForwarding(domains=list(HOSTNAMES), target_ips=[RESOLVER_IP]),
            alarm_topic=topic)
        made[f"{name}.vpcs"] = vpcs
    assembly = app.synth()
    made["templates"] = {s.stack_name: s.template for s in assembly.stacks}
    return made


def _of(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == type_}


def _route_table_ids(stack_template: dict[str, Any], vpc_index: int, group: str) -> set[str]:
    """Logical ids of the route tables CDK made for one subnet group of one VPC."""
    prefix = f"Vpc{vpc_index}{group}Subnet"
    return {k for k, r in stack_template["Resources"].items()
            if r["Type"] == "AWS::EC2::RouteTable" and k.startswith(prefix)}


def test_two_tunnels_per_azure_instance_with_bgp(built: dict[str, Any]) -> None:
    # Azure's active-active gateway has two public addresses; each gets a customer gateway
    # and a connection with both AWS tunnels, so one Azure instance or one AWS tunnel endpoint
    # can fail without losing the path. Dynamic routing (StaticRoutesOnly false) means BGP.
    template = built["templates"]["OneVpc"]
    customers = _of(template, "AWS::EC2::CustomerGateway")
    assert sorted(c["IpAddress"] for c in customers.values()) == sorted(AZURE_IPS)
    assert {c["BgpAsn"] for c in customers.values()} == {AZURE_ASN}
    connections = _of(template, "AWS::EC2::VPNConnection")
    (gateway_id,) = _of(template, "AWS::EC2::VPNGateway")
    assert len(connections) == 2
    inside = []
    for props in connections.values():
        assert props["StaticRoutesOnly"] is False
        assert props["VpnGatewayId"] == {"Ref": gateway_id}
        tunnels = props["VpnTunnelOptionsSpecifications"]
        assert len(tunnels) == 2
        assert all(t["IKEVersions"] == [{"Value": "ikev2"}] for t in tunnels)
        inside += [t["TunnelInsideCidr"] for t in tunnels]
    # Microsoft's table: AWS takes the first address of each /30, Azure the second, and every
    # /30 lies in Azure's APIPA range for VPN (169.254.21.0-169.254.22.255).
    assert sorted(inside) == ["169.254.21.0/30", "169.254.21.4/30",
                              "169.254.22.0/30", "169.254.22.4/30"]
    low, high = ipaddress.ip_address("169.254.21.0"), ipaddress.ip_address("169.254.22.255")
    assert all(low <= ipaddress.ip_network(c)[0] and ipaddress.ip_network(c)[-1] <= high
               for c in inside)


def test_keys_reach_the_template_only_as_secrets_manager_references(built: dict[str, Any]) -> None:
    # A pre-shared key in a template is readable by anyone with GetTemplate; a dynamic
    # reference is resolved by CloudFormation at deploy time and never stored.
    template = built["templates"]["OneVpc"]
    secrets = _of(template, "AWS::SecretsManager::Secret")
    referenced = []
    for props in _of(template, "AWS::EC2::VPNConnection").values():
        for tunnel in props["VpnTunnelOptionsSpecifications"]:
            key = tunnel["PreSharedKey"]
            assert isinstance(key, dict), "a literal key is in the template"
            parts = key["Fn::Join"][1]
            assert parts[0] == "{{resolve:secretsmanager:" and parts[2] == ":SecretString:::}}"
            referenced.append(parts[1]["Ref"])
    assert len(set(referenced)) == 4 and set(referenced) == set(secrets)
    for props in secrets.values():
        generator = props["GenerateSecretString"]
        # AWS: letters, digits, '.', '_' only, never a leading 0; KMS key of our own.
        assert generator["ExcludePunctuation"] is True and "0" in generator["ExcludeCharacters"]
        assert 8 <= generator["PasswordLength"] <= 64
        assert "KmsKeyId" in props and "SecretString" not in props


def test_routes_are_propagated_to_the_routed_subnets_only(built: dict[str, Any]) -> None:
    # Only the gateway's subnets may reach Azure; the data subnets stay without a path out.
    template = built["templates"]["OneVpc"]
    (propagation,) = _of(template, "AWS::EC2::VPNGatewayRoutePropagation").values()
    propagated = {r["Ref"] for r in propagation["RouteTableIds"]}
    assert propagated == _route_table_ids(template, 0, "private")
    assert not propagated & _route_table_ids(template, 0, "data")
    assert len(_of(template, "AWS::EC2::VPNGateway")) == 1
    assert not _of(template, "AWS::EC2::TransitGateway")


def test_several_vpcs_share_a_transit_gateway_with_routes_in_routed_subnets_only(
        built: dict[str, Any]) -> None:
    template = built["templates"]["TwoVpcs"]
    (tgw_id,) = _of(template, "AWS::EC2::TransitGateway")
    assert not _of(template, "AWS::EC2::VPNGateway")
    assert all(c["TransitGatewayId"] == {"Ref": tgw_id}
               for c in _of(template, "AWS::EC2::VPNConnection").values())
    assert len(_of(template, "AWS::EC2::TransitGatewayVpcAttachment")) == 2
    routes = [r for r in _of(template, "AWS::EC2::Route").values() if "TransitGatewayId" in r]
    assert {r["DestinationCidrBlock"] for r in routes} == {AZURE_CIDR}
    tables = {r["RouteTableId"]["Ref"] for r in routes}
    assert tables == _route_table_ids(template, 0, "private") | _route_table_ids(
        template, 1, "private")


def test_one_tunnel_state_alarm_per_connection_that_notifies(built: dict[str, Any]) -> None:
    template = built["templates"]["OneVpc"]
    alarms = list(_of(template, "AWS::CloudWatch::Alarm").values())
    connections = set(_of(template, "AWS::EC2::VPNConnection"))
    assert len(alarms) == len(connections) == 2
    watched = set()
    for alarm in alarms:
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/VPN", "TunnelState")
        (dimension,) = alarm["Dimensions"]
        assert dimension["Name"] == "VpnId"
        watched.add(dimension["Value"]["Ref"])
        # BGP VPN: 1 is ESTABLISHED; anything below on the minimum is a tunnel not up.
        assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 1
        assert alarm["Statistic"] == "Minimum" and alarm["TreatMissingData"] == "breaching"
        assert alarm["AlarmActions"] and alarm["OKActions"]
    assert watched == connections


def test_dns_forwarding_for_exactly_the_account_hostnames(built: dict[str, Any]) -> None:
    # Only these names go to Azure's resolver: every other lookup stays with Route 53, so a
    # forwarding rule cannot capture names of other services (or other Azure accounts).
    for name, vpc_count in (("OneVpc", 1), ("TwoVpcs", 2)):
        template = built["templates"][name]
        (endpoint,) = _of(template, "AWS::Route53Resolver::ResolverEndpoint").values()
        assert endpoint["Direction"] == "OUTBOUND" and len(endpoint["IpAddresses"]) == 2
        rules = _of(template, "AWS::Route53Resolver::ResolverRule")
        assert sorted(r["DomainName"] for r in rules.values()) == sorted(HOSTNAMES)
        for rule in rules.values():
            assert rule["RuleType"] == "FORWARD"
            assert rule["TargetIps"] == [{"Ip": RESOLVER_IP, "Port": "53"}]
        associations = _of(template, "AWS::Route53Resolver::ResolverRuleAssociation")
        assert len(associations) == len(HOSTNAMES) * vpc_count


def test_resolver_endpoint_may_send_dns_to_the_remote_resolver_only(built: dict[str, Any]) -> None:
    template = built["templates"]["OneVpc"]
    (endpoint,) = _of(template, "AWS::Route53Resolver::ResolverEndpoint").values()
    (group_ref,) = endpoint["SecurityGroupIds"]
    group = template["Resources"][group_ref["Fn::GetAtt"][0]]["Properties"]
    assert "SecurityGroupIngress" not in group
    egress = {(e["IpProtocol"], e["CidrIp"], e["FromPort"], e["ToPort"])
              for e in group["SecurityGroupEgress"]}
    assert egress == {("udp", f"{RESOLVER_IP}/32", 53, 53), ("tcp", f"{RESOLVER_IP}/32", 53, 53)}


def test_no_secret_value_anywhere_in_the_templates(built: dict[str, Any]) -> None:
    # The generated keys exist only in Secrets Manager: the synthesized text must not even
    # contain a SecretString property.
    text = json.dumps(built["templates"])
    assert "SecretString\"" not in text.replace("GenerateSecretString\"", "")
    assert text.count("{{resolve:secretsmanager:") == 8  # 4 tunnels x 2 stacks


@pytest.mark.parametrize("pack_name", ["AwsSolutionsChecks", "NIST80053R5Checks"])
def test_cdk_nag_finds_nothing_unacknowledged(built: dict[str, Any], pack_name: str) -> None:
    import cdk_nag

    app = built["app"]
    report = getattr(cdk_nag, pack_name)(app).validate_scope(app)
    found = [(v.rule_name, [r.construct_path for r in v.violating_resources])
             for v in report.violations]
    # The test's own VPCs and topic are not under test: everything the construct made (under
    # .../ToAzure/) must be clean or acknowledged with a reason.
    mine = [(rule, [p for p in paths if "/ToAzure/" in p]) for rule, paths in found]
    assert [m for m in mine if m[1]] == []
    assert found, "the packs saw nothing at all: the check would prove nothing"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"remote_gateways": [("20.61.10.1", ("169.254.0.0/30", "169.254.22.0/30"))]},
     "reserved by AWS"),
    ({"remote_gateways": [("20.61.10.1", ("169.254.21.0/30", "169.254.21.0/30"))]},
     "overlaps"),
    ({"remote_gateways": [("20.61.10.1", ("169.254.21.0/29", "169.254.22.0/30"))]},
     "must be a /30"),
    ({"remote_gateways": [("10.1.2.3", None)]}, "not a public address"),
    ({"remote_asn": 64512}, "eBGP needs two"),
    ({"domains": ["azure.com"]}, "at least three labels"),
    ({"target_ips": ["20.1.1.1"]}, "not a private address"),
    ({"remote_cidrs": []}, "remote_cidrs"),
])
def test_bad_props_are_refused_with_the_field(kwargs: dict[str, Any], message: str) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    from skyrelay.constructs.site_to_site_vpn import (
        DnsForwarding,
        RemoteVpnGateway,
        RoutedNetwork,
        SiteToSiteVpn,
    )

    stack = cdk.Stack(cdk.App(), "Bad", env=cdk.Environment(region="eu-west-1"))
    vpc = _vpc(stack, "Vpc0", "10.20.0.0/16")
    remotes = [RemoteVpnGateway(ip, cidrs) for ip, cidrs in kwargs.get(
        "remote_gateways", [(AZURE_IPS[0], None)])]
    with pytest.raises(ValueError, match=message):
        SiteToSiteVpn(
            stack, "Vpn",
            networks=[RoutedNetwork(vpc=vpc, subnets=ec2.SubnetSelection(
                subnet_group_name="private"))],
            remote_gateways=remotes, remote_asn=kwargs.get("remote_asn", AZURE_ASN),
            remote_cidrs=kwargs.get("remote_cidrs", [AZURE_CIDR]),
            dns=DnsForwarding(domains=kwargs.get("domains", list(HOSTNAMES)),
                              target_ips=kwargs.get("target_ips", [RESOLVER_IP])))


def test_cfn_lint_passes_on_both_templates(built: dict[str, Any], tmp_path: Any) -> None:
    # cfn-lint knows the resource schemas (e.g. that a Transit Gateway route needs the
    # attachment first, which the explicit dependency gives it).
    import subprocess
    import sys
    from pathlib import Path

    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    paths = []
    for name, template in built["templates"].items():
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(template))
        paths.append(str(path))
    repo = Path(__file__).resolve().parents[2]
    # W3010: the test's own VPC names its zones (the project's stacks use zone IDs instead).
    proc = subprocess.run([str(cfn_lint), "--ignore-checks", "W3010", "--", *paths],
                          cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
