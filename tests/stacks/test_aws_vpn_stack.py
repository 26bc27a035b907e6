"""The ``<name>-<region>-vpn`` stacks of a private-vpn spec: what must hold for the path to be
private, built from the spec plus the link folder (link step 2 on recorded Pulumi outputs).

One app is synthesized per module. Each assertion says why the property matters.
Update the snapshot with: pytest tests/stacks/test_aws_vpn_stack.py --snapshot-update
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension
from vpn_platform import ACCOUNT, fixture, linked_folder, private_vpn_spec

REGIONS = ("us-east-1", "eu-central-1")
AZURE = fixture("pulumi-outputs.json")["accounts"][ACCOUNT]["vpn"]
HOSTNAMES = sorted(f"{ACCOUNT}.{p}{z}" for z in (
    "openai.azure.com", "cognitiveservices.azure.com", "services.ai.azure.com")
    for p in ("", "privatelink."))


def _synth(spec: Any, link: Path | None, outdir: Path) -> Any:
    import aws_cdk as cdk

    from skyrelay.cdk_app import compose_app

    app = cdk.App(outdir=str(outdir), context={"skyrelay:link": str(link)} if link else {})
    compose_app(spec, app, checks=False)
    return app, app.synth()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    spec = private_vpn_spec()
    work = tmp_path_factory.mktemp("vpn")
    app, assembly = _synth(spec, linked_folder(spec, work), work / "cdk.out")
    templates = {s.stack_name: s.template for s in assembly.stacks}
    return {"spec": spec, "app": app, "templates": templates, "work": work}


def _vpn(built: dict[str, Any], region: str) -> dict[str, Any]:
    template: dict[str, Any] = built["templates"][f"acme-ai-{region}-vpn"]
    return template


def _of(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == type_}


def test_before_the_first_link_there_is_no_vpn_stack_and_synth_says_so(tmp_path: Path) -> None:
    # No Azure addresses yet: a VPN stack now could only point at nothing. It is left out,
    # the rest of the platform synthesizes, and the network stack carries the next step.
    _, assembly = _synth(private_vpn_spec(), None, tmp_path)
    names = {s.stack_name for s in assembly.stacks}
    assert not {n for n in names if n.endswith("-vpn")}
    assert {f"acme-ai-{r}-gateway" for r in REGIONS} <= names
    for region in REGIONS:
        network = assembly.get_stack_by_name(f"acme-ai-{region}-network")
        texts = [str(m.entry.data) for m in network.messages
                 if str(getattr(m.level, "value", m.level)).lower() == "warning"]
        assert any(f"acme-ai-{region}-vpn is not synthesized" in t and "skyrelay link" in t
                   and ACCOUNT in t for t in texts), texts


def test_one_vpn_stack_per_gateway_region_once_linked(built: dict[str, Any]) -> None:
    assert sorted(n for n in built["templates"] if n.endswith("-vpn")) == sorted(
        f"acme-ai-{r}-vpn" for r in REGIONS)


@pytest.mark.parametrize(("region", "peer"), [("us-east-1", 0), ("eu-central-1", 1)])
def test_two_bgp_tunnels_per_connection_in_the_regions_own_slot(
        built: dict[str, Any], region: str, peer: int) -> None:
    # Azure's gateway has two instances: one connection each, both AWS tunnels up, BGP so
    # routes and failover are learned; each region takes its own inside /30s so the Azure
    # gateway never sees one BGP address from two regions.
    template = _vpn(built, region)
    customers = _of(template, "AWS::EC2::CustomerGateway")
    assert sorted(c["IpAddress"] for c in customers.values()) == AZURE["publicIps"]
    assert {c["BgpAsn"] for c in customers.values()} == {AZURE["asn"]}
    inside = []
    connections = _of(template, "AWS::EC2::VPNConnection")
    assert len(connections) == 2
    for props in connections.values():
        assert props["StaticRoutesOnly"] is False
        assert len(props["VpnTunnelOptionsSpecifications"]) == 2
        inside += [t["TunnelInsideCidr"] for t in props["VpnTunnelOptionsSpecifications"]]
    first = ipaddress.ip_network(f"169.254.21.{8 * peer}/30")
    assert sorted(inside) == sorted([str(first), f"169.254.21.{8 * peer + 4}/30",
                                     f"169.254.22.{8 * peer}/30", f"169.254.22.{8 * peer + 4}/30"])


def test_keys_only_as_secrets_manager_references(built: dict[str, Any]) -> None:
    for region in REGIONS:
        template = _vpn(built, region)
        secrets = set(_of(template, "AWS::SecretsManager::Secret"))
        referenced = set()
        for props in _of(template, "AWS::EC2::VPNConnection").values():
            for tunnel in props["VpnTunnelOptionsSpecifications"]:
                parts = tunnel["PreSharedKey"]["Fn::Join"][1]
                assert parts[0] == "{{resolve:secretsmanager:" and parts[-1].endswith("}}")
                referenced.add(parts[1]["Ref"])
        assert referenced == secrets and len(secrets) == 4
        assert '"SecretString"' not in json.dumps(template)


def test_routes_propagate_to_the_gateway_subnets_only(built: dict[str, Any]) -> None:
    # The gateway service runs in the "private" subnets; the data subnets (Valkey) must not
    # learn a route to Azure.
    for region in REGIONS:
        network = built["templates"][f"acme-ai-{region}-network"]
        tables = {k for k, r in network["Resources"].items() if r["Type"] == "AWS::EC2::RouteTable"}
        private = {k for k in tables if "privateSubnet" in k}
        assert private and tables - private  # not vacuous: other tables exist
        (propagation,) = _of(_vpn(built, region), "AWS::EC2::VPNGatewayRoutePropagation").values()
        imported = {ref["Fn::ImportValue"] for ref in propagation["RouteTableIds"]}
        assert {next(t for t in tables if t in name) for name in imported} == private


def test_dns_forwarding_for_exactly_the_account_hostnames(built: dict[str, Any]) -> None:
    for region in REGIONS:
        template = _vpn(built, region)
        rules = _of(template, "AWS::Route53Resolver::ResolverRule").values()
        assert sorted(r["DomainName"] for r in rules) == HOSTNAMES
        assert all(r["TargetIps"] == [{"Ip": AZURE["resolverIp"], "Port": "53"}] for r in rules)
        (endpoint,) = _of(template, "AWS::Route53Resolver::ResolverEndpoint").values()
        assert endpoint["Direction"] == "OUTBOUND" and len(endpoint["IpAddresses"]) == 2


def _deployed(template: dict[str, Any], region: str, n0: int) -> tuple[dict[str, str], list[Any]]:
    """The stack's outputs and DescribeVpnConnections entries once CloudFormation ran it."""
    res = template["Resources"]
    ids = {lid: f"vpn-0a1b2c3d4e5f6{n0 + i:04d}" for i, lid in
           enumerate(sorted(k for k, r in res.items() if r["Type"] == "AWS::EC2::VPNConnection"))}

    def value(v: Any) -> str:
        if isinstance(v, str):
            return v
        if "Ref" in v:
            lid = v["Ref"]
            return ids.get(lid) or (f"arn:aws:secretsmanager:{region}:111122223333:secret:{lid}"
                                    "-Ab12Cd")
        sep, parts = v["Fn::Join"]
        return sep.join(value(p) for p in parts)

    outputs = {k: value(o["Value"]) for k, o in template["Outputs"].items()}
    described = []
    for lid, vpn_id in ids.items():
        tunnels = res[lid]["Properties"]["VpnTunnelOptionsSpecifications"]
        described.append({
            "VpnConnectionId": vpn_id, "State": "available", "Type": "ipsec.1",
            "CustomerGatewayId": f"cgw-{vpn_id[4:]}", "Category": "VPN",
            "Options": {"StaticRoutesOnly": False, "TunnelOptions": [
                {"OutsideIpAddress": f"52.{n0 // 1000 + 40}.{(n0 + int(vpn_id[-1])) % 250}.{t}",
                 "TunnelInsideCidr": tun["TunnelInsideCidr"],
                 "PreSharedKey": "DescribeAlsoReturnsTheKeyNeverUseIt"}
                for t, tun in enumerate(reversed(tunnels), start=1)]}})
    return outputs, described


def test_the_recorded_deploy_is_what_these_templates_deploy(built: dict[str, Any]) -> None:
    # tests/skyrelay/test_link_vpn.py runs step 4 on vpn-stack-outputs.json and
    # describe-vpn-connections.json: they must be what these stacks output once deployed
    # (so the link reads the real keys and shapes, under the OUTPUT_* names).
    from skyrelay.vpn_link import AwsVpnOutputs

    outputs, described = {}, []
    for i, region in enumerate(REGIONS):
        name = f"acme-ai-{region}-vpn"
        outputs[name], found = _deployed(_vpn(built, region), region, 1000 * (i + 1))
        described += found
        parsed = AwsVpnOutputs.from_stack_outputs(outputs[name], name)
        assert list(parsed.customer_gateway_ips) == AZURE["publicIps"]
    assert fixture("vpn-stack-outputs.json") == outputs
    assert fixture("describe-vpn-connections.json") == {"VpnConnections": described}


def test_stale_or_foreign_link_values_stop_synth(built: dict[str, Any], tmp_path: Path) -> None:
    from skyrelay.link import LinkError
    from skyrelay.stacks.vpn import VpnSpecError

    link = built["work"] / "link"
    values = json.loads((link / "acme-ai-vpn-link.json").read_text())
    stale = tmp_path / "link"
    stale.mkdir()
    for p in link.iterdir():
        (stale / p.name).write_text(p.read_text())
    values["accounts"]["another-account"] = values["accounts"][ACCOUNT]
    (stale / "acme-ai-vpn-link.json").write_text(json.dumps(values))
    with pytest.raises(LinkError, match=r"stale\): run `skyrelay link` again \(step 2\)"):
        _synth(built["spec"], stale, tmp_path / "out1")
    del values["accounts"]["another-account"]
    values["accounts"][ACCOUNT]["remoteAsn"] = 65010  # Azure built with another ASN
    (stale / "acme-ai-vpn-link.json").write_text(json.dumps(values))
    with pytest.raises(VpnSpecError, match="not the spec's vpn.asn 65515"):
        _synth(built["spec"], stale, tmp_path / "out2")


def test_a_second_private_vpn_account_is_refused_with_the_reason(tmp_path: Path) -> None:
    from skyrelay.spec.models import Spec
    from skyrelay.stacks.vpn import VpnSpecError

    data = private_vpn_spec().model_dump(exclude_unset=True)
    second = {**data["azure"]["accounts"][0], "name": "acme-openai-two",
              "vnet_cidr": "10.101.0.0/24"}
    data["azure"]["accounts"] = (*data["azure"]["accounts"], second)
    with pytest.raises(VpnSpecError, match="one account per platform"):
        _synth(Spec.model_validate(data), None, tmp_path)


@pytest.mark.parametrize("pack", ["AwsSolutionsChecks", "NIST80053R5Checks", "SkyrelayChecks"])
def test_compliance_packs_find_nothing_in_the_vpn_stacks(built: dict[str, Any], pack: str) -> None:
    import cdk_nag

    from skyrelay.policies.nag_pack import SkyrelayChecks

    app = built["app"]
    packs = {"SkyrelayChecks": SkyrelayChecks}
    report = (packs.get(pack) or getattr(cdk_nag, pack))(app).validate_scope(app)
    found = [(v.rule_name, p.construct_path) for v in report.violations
             for p in v.violating_resources]
    # Everything in the VPN stacks is clean or acknowledged with a reason (the construct's
    # key secrets rotate only with both ends, see constructs/site_to_site_vpn.py).
    assert [f for f in found if "-vpn/" in f[1]] == []


def test_cfn_lint_passes_on_the_vpn_templates(built: dict[str, Any], tmp_path: Path) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    paths = []
    for region in REGIONS:
        path = tmp_path / f"acme-ai-{region}-vpn.template.json"
        path.write_text(json.dumps(_vpn(built, region)))
        paths.append(str(path))
    proc = subprocess.run([str(cfn_lint), "--", *paths], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_vpn_template_snapshot(built: dict[str, Any], cfn: Any, snapshot: Any) -> None:
    assert cfn.normalize_assets(_vpn(built, "us-east-1")) == snapshot.use_extension(
        JSONSnapshotExtension)
