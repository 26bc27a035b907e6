"""The AWS rules that keep a private path private (``gateway_path: private-vpn``).

Pure functions over synthesized templates, like :mod:`skyrelay.policies.aws_templates`:

* SKY-AWS-013: every ``AWS::EC2::VPNConnection`` routes with BGP (``StaticRoutesOnly``
  false: "dynamic routing", the only way the Azure side's routes and failover are learned)
  and has both tunnels specified (AWS builds two per connection; an unspecified one gets
  AWS-chosen settings and a key nobody stored);
* SKY-AWS-014: every tunnel's ``PreSharedKey`` is a ``{{resolve:secretsmanager:...}}``
  dynamic reference, never a literal (a literal is readable by anyone with
  ``cloudformation:GetTemplate``; a dynamic reference is resolved at deploy time and never
  stored: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references-secretsmanager.html);
* SKY-AWS-015 (spec-level): each private-vpn account has a VPN stack with its connections
  from every gateway region, so no gateway region is left without a path (or falls back to
  the public endpoint, which is off).

Example::

    from skyrelay.policies.aws_vpn_rules import check_vpn_keys
    bad = {"Resources": {"C": {"Type": "AWS::EC2::VPNConnection", "Properties": {
        "StaticRoutesOnly": False, "VpnTunnelOptionsSpecifications": [
            {"PreSharedKey": "plain.text.key"}, {"PreSharedKey": "another.key"}]}}}}
    assert [v.rule for v in check_vpn_keys(bad, "s")] == ["SKY-AWS-014", "SKY-AWS-014"]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from skyrelay.policies.rules import Violation
from skyrelay.spec.models import Spec
from skyrelay.views.private_path import private_vpn_accounts, vpn_stack_name

Template = dict[str, Any]
VPN_CONNECTION = "AWS::EC2::VPNConnection"
DYNAMIC_REFERENCE = "{{resolve:secretsmanager:"


def _connections(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    for lid, res in (template.get("Resources") or {}).items():
        if res.get("Type") == VPN_CONNECTION:
            yield lid, res.get("Properties") or {}


def check_vpn_bgp(template: Template, stack: str) -> list[Violation]:
    """SKY-AWS-013: BGP (``StaticRoutesOnly`` false) and two specified tunnels."""
    out = []
    for lid, props in _connections(template):
        if props.get("StaticRoutesOnly") is not False:
            out.append(Violation("SKY-AWS-013", f"{stack}/{lid}",
                                 "StaticRoutesOnly is not false: the connection does not "
                                 "route with BGP"))
        tunnels = props.get("VpnTunnelOptionsSpecifications")
        if not isinstance(tunnels, list) or len(tunnels) != 2:
            count = len(tunnels) if isinstance(tunnels, list) else 0
            out.append(Violation("SKY-AWS-013", f"{stack}/{lid}",
                                 f"{count} tunnel(s) specified, expected both tunnels"))
    return out


def is_dynamic_reference(value: Any) -> bool:
    """True for ``{{resolve:secretsmanager:...}}``, as a string or CDK's ``Fn::Join`` of one."""
    if isinstance(value, str):
        return value.startswith(DYNAMIC_REFERENCE) and value.endswith("}}")
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        sep, parts = value["Fn::Join"]
        strings = [p for p in parts if isinstance(p, str)]
        return (sep == "" and bool(parts) and isinstance(parts[0], str)
                and parts[0].startswith(DYNAMIC_REFERENCE)
                and isinstance(parts[-1], str) and parts[-1].endswith("}}")
                and all("{{" not in s for s in strings[1:]))
    return False


def check_vpn_keys(template: Template, stack: str) -> list[Violation]:
    """SKY-AWS-014: each tunnel key only as a Secrets Manager dynamic reference."""
    out = []
    for lid, props in _connections(template):
        for t, tunnel in enumerate(props.get("VpnTunnelOptionsSpecifications") or []):
            key = (tunnel or {}).get("PreSharedKey")
            if key is None:
                out.append(Violation("SKY-AWS-014", f"{stack}/{lid}",
                                     f"tunnel {t + 1} has no PreSharedKey: AWS would pick one "
                                     "that no secret holds for the other side"))
            elif not is_dynamic_reference(key):
                # The value itself is never repeated in the message.
                out.append(Violation("SKY-AWS-014", f"{stack}/{lid}",
                                     f"tunnel {t + 1}'s PreSharedKey is not a "
                                     "{{resolve:secretsmanager:...}} reference (a literal key "
                                     "is readable in the template)"))
    return out


def check_vpn_coverage(spec: Spec, templates: Mapping[str, Template]) -> list[Violation]:
    """SKY-AWS-015: a VPN stack with two connections in every gateway region."""
    accounts = private_vpn_accounts(spec)
    if not accounts:
        return []
    names = ", ".join(a.name for a in accounts)
    out = []
    for region in spec.gateway.regions:
        stack = vpn_stack_name(spec.name, region)
        template = templates.get(stack)
        if template is None:
            out.append(Violation("SKY-AWS-015", stack,
                                 f"gateway region {region} has no VPN stack to the "
                                 f"private-vpn account(s) {names}: run `skyrelay link` "
                                 "after the first `pulumi up`, then synth again"))
            continue
        count = sum(1 for _ in _connections(template))
        if count < 2:
            out.append(Violation("SKY-AWS-015", stack,
                                 f"{count} VPN connection(s); the active-active Azure "
                                 "gateway needs one per instance (2)"))
    return out
