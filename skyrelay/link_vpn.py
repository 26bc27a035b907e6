"""The VPN steps of ``skyrelay link`` (``gateway_path: private-vpn``), for :mod:`skyrelay.link`.

The deploy order is :mod:`skyrelay.vpn_link`'s; this module carries its values through the
files ``skyrelay link`` owns:

* step 2 (after the first ``pulumi up``): each private-vpn account's Azure gateway addresses,
  resolver address and ASN -> ``link/<name>-vpn-link.json``, which
  ``cdk deploy -c skyrelay:link=link`` reads (:func:`load_vpn_values`) to build the
  ``<name>-<region>-vpn`` stacks. Without that file there is no VPN stack at all (never a
  connection to addresses nobody knows yet);
* step 4 (after ``cdk deploy`` of the VPN stacks): their outputs plus one
  ``ec2:DescribeVpnConnections`` answer per region -> ``skyrelay:vpnTunnels`` (account ->
  tunnels, no key in it) in ``Pulumi.<stack>.yaml``, and one ``pulumi config set --secret``
  per tunnel key, run with the key on standard input (never in argv, a file we write, or
  a printed change).

A missing value names the step to run; a stale one (AWS built against other Azure addresses,
another peer's inside /30s, a connection that is gone) is refused, and nothing is written.

Example::

    from skyrelay.link import LinkInputs, plan_link
    from skyrelay.link_vpn import VpnInputs
    plan = plan_link(spec, LinkInputs(cdk, pulumi, Path("pulumi/Pulumi.prod.yaml"),
                                      vpn=VpnInputs(described=recorded_answer)), Path("link"))
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyrelay.spec import Spec
from skyrelay.views.private_path import (
    peer_inside_cidrs,
    private_vpn_accounts,
    vpn_regions,
    vpn_stack_name,
)
from skyrelay.vpn_link import (
    TUNNELS_KEY,
    AwsVpnOutputs,
    AzureVpnOutputs,
    SecretSetting,
    VpnLinkError,
    aws_link_values,
    azure_tunnels,
    is_bgp_asn,
    is_private_ipv4,
    is_public_ipv4,
    secret_settings,
)

if TYPE_CHECKING:
    from skyrelay.link import LinkPlan

VPN_LINK_VERSION = 1
#: (argv, stdin) -> (exit code, stdout): how a ``pulumi`` command is run (tests pass a fake).
Runner = Callable[[Sequence[str], str | None], tuple[int, str]]


def vpn_values_filename(platform: str) -> str:
    """File name of the AWS link values (step 2) in the link folder."""
    return f"{platform}-vpn-link.json"


@dataclass
class VpnInputs:
    """How step 4 learns what only AWS knows.

    ``described``: a recorded ``DescribeVpnConnections`` answer (all regions' connections in
    one ``VpnConnections`` list), else ``describe(region, connection_ids)`` is called (the
    CLI's default calls EC2). ``get_secret(arn)`` returns a key's ``SecretString``;
    ``run`` runs ``pulumi`` (``config get`` to compare, ``config set --secret`` to write).
    """

    described: Mapping[str, Any] | None = None
    describe: Callable[[str, list[str]], Mapping[str, Any]] | None = None
    get_secret: Callable[[str], str] | None = None
    run: Runner | None = None
    pulumi_dir: Path | None = None


@dataclass
class VpnPlanPart:
    """What the VPN steps add to a :class:`skyrelay.link.LinkPlan`."""

    values_changed: bool = False
    tunnels_changed: bool = False
    secrets: list[SecretSetting] = field(default_factory=list)
    waiting_for_deploy: list[str] = field(default_factory=list)
    #: How :func:`apply_secrets` runs ``pulumi`` (set with ``secrets``).
    run: Runner | None = None


# --- step 2 ---------------------------------------------------------------------------------

def plan_vpn_link(plan: LinkPlan, pulumi_outputs: Mapping[str, Any] | None,
                  cdk_outputs: Mapping[str, Any], stack_file: Path | None,
                  stack_config: dict[str, Any] | None, out_dir: Path,
                  inputs: VpnInputs | None) -> VpnPlanPart:
    """Add the VPN steps' files and secret settings to ``plan``; raise ``LinkError``."""
    from skyrelay.link import LinkError

    part = VpnPlanPart()
    spec = plan.spec
    accounts = [a.name for a in private_vpn_accounts(spec)]
    if not accounts or not spec.gateway.regions or plan.before_pulumi or not pulumi_outputs:
        return part
    try:
        values = aws_link_values(pulumi_outputs, accounts)
    except VpnLinkError as exc:
        raise LinkError(exc.problems) from None
    document = {"version": VPN_LINK_VERSION, "platform": spec.name, "accounts": values}
    path = out_dir / vpn_values_filename(spec.name)
    part.values_changed = _plan_json(plan, path, document, "AWS values of the private VPN")
    if stack_file is None or stack_config is None:
        return part
    tunnels = _step_4(plan, part, pulumi_outputs, cdk_outputs, accounts, stack_file,
                      inputs or VpnInputs())
    if tunnels is not None:
        _plan_tunnels(plan, part, stack_file, stack_config, tunnels)
    return part


def _plan_json(plan: LinkPlan, path: Path, document: dict[str, Any], what: str) -> bool:
    from skyrelay.link import NEW_FILE, Change

    try:
        before = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        before = None
    if before == document:
        return False
    plan.files[path] = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if before is None:
        plan.changes.append(Change(path, NEW_FILE, None, what))
    else:
        for account in sorted(set(before.get("accounts") or {}) | set(document["accounts"])):
            old = (before.get("accounts") or {}).get(account)
            new = document["accounts"].get(account)
            if old != new:
                plan.changes.append(Change(path, f"accounts.{account}", old, new))
    return True


# --- step 4 ---------------------------------------------------------------------------------

def _step_4(plan: LinkPlan, part: VpnPlanPart, pulumi_outputs: Mapping[str, Any],
            cdk_outputs: Mapping[str, Any], accounts: list[str], stack_file: Path,
            inputs: VpnInputs) -> dict[str, list[dict[str, Any]]] | None:
    from skyrelay.link import LinkError

    spec = plan.spec
    account = accounts[0]  # one private-vpn account (stacks/vpn.py refuses more)
    deployed = {r: vpn_stack_name(spec.name, r) for r in vpn_regions(spec)
                if vpn_stack_name(spec.name, r) in cdk_outputs}
    part.waiting_for_deploy = [vpn_stack_name(spec.name, r) for r in vpn_regions(spec)
                               if r not in deployed]
    if not deployed:
        return None
    problems: list[str] = []
    azure = AzureVpnOutputs.from_account_outputs(pulumi_outputs, account)
    tunnels = []
    for region, stack in deployed.items():
        try:
            aws = AwsVpnOutputs.from_stack_outputs(cdk_outputs.get(stack), stack)
            expected = [list(pair) for pair in peer_inside_cidrs(spec, region)]
            if [list(pair) for pair in aws.inside_cidrs] != expected:
                raise VpnLinkError([
                    f"{stack}: tunnels built with inside CIDRs {aws.inside_cidrs}, but peer "
                    f"{region} owns {expected} (gateway.regions changed?): run `cdk deploy "
                    f"{stack}` again (step 3)"])
            described = _described(inputs, region, list(aws.connection_ids))
            tunnels += azure_tunnels(aws, list(azure.public_ips), described, peer=region)
        except VpnLinkError as exc:
            problems += exc.problems
    if problems:
        raise LinkError(problems)
    if inputs.get_secret is None:
        raise LinkError(["step 4 needs the tunnel keys from Secrets Manager: no way to read "
                         "them was given"])
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    try:
        settings = secret_settings(account, tunnels, inputs.get_secret, stack)
    except VpnLinkError as exc:
        raise LinkError(exc.problems) from None
    run = inputs.run or pulumi_runner(inputs.pulumi_dir or stack_file.parent)
    part.run = run
    from skyrelay.link import Change

    for setting in settings:
        code, current = run(("pulumi", "config", "get", "--stack", stack, setting.key), None)
        if code == 0 and current.rstrip("\n") == setting.stdin:
            continue  # already set to this key: a repeated link changes nothing
        part.secrets.append(setting)
        plan.changes.append(Change(stack_file, setting.key, None if code else "(secret)",
                                   "(secret, from Secrets Manager)"))
    return {account: [t.config() for t in tunnels]}


def _described(inputs: VpnInputs, region: str, ids: list[str]) -> Mapping[str, Any]:
    if inputs.described is not None:
        return inputs.described
    if inputs.describe is None:
        raise VpnLinkError([f"step 4 needs a DescribeVpnConnections answer for {region}: give "
                            "--vpn-connections FILE or AWS credentials"])
    return inputs.describe(region, ids)


def _plan_tunnels(plan: LinkPlan, part: VpnPlanPart, path: Path, data: dict[str, Any],
                  tunnels: dict[str, list[dict[str, Any]]]) -> None:
    import yaml

    from skyrelay.link import Change

    config = data.setdefault("config", {}) or {}
    data["config"] = config
    before = config.get(TUNNELS_KEY)
    merged = {**(before if isinstance(before, dict) else {}), **tunnels}
    if before == merged:
        return
    config[TUNNELS_KEY] = merged
    part.tunnels_changed = True
    plan.changes.append(Change(path, TUNNELS_KEY, before, merged))
    plan.files[path] = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


# --- the clouds, for the CLI ----------------------------------------------------------------

def aws_vpn_inputs(described: Mapping[str, Any] | None, pulumi_dir: Path,
                   client: Callable[..., Any] | None = None) -> VpnInputs:
    """:class:`VpnInputs` that ask AWS (boto3, the default credential chain) for what a
    recorded answer does not give: ``ec2:DescribeVpnConnections`` per region and
    ``secretsmanager:GetSecretValue`` per key (in the key's region, from its ARN).
    ``client(service, region_name=...)`` makes the clients (default: ``boto3.client``)."""

    def make(service: str, region: str) -> Any:
        if client is not None:
            return client(service, region_name=region)
        try:
            import boto3
        except ImportError:  # pragma: no cover - boto3 comes with the aws extra
            raise VpnLinkError(["step 4 needs boto3 (pip install 'skyrelay[aws]') or "
                                "--vpn-connections FILE"]) from None
        return boto3.client(service, region_name=region)

    def describe(region: str, ids: list[str]) -> Mapping[str, Any]:
        try:
            answer: Mapping[str, Any] = make("ec2", region).describe_vpn_connections(
                VpnConnectionIds=ids)
        except VpnLinkError:
            raise
        except Exception as exc:  # botocore: no credentials, access denied, unknown id
            raise VpnLinkError([f"ec2:DescribeVpnConnections in {region} failed: "
                                f"{type(exc).__name__}: {exc}"]) from None
        return answer

    def get_secret(arn: str) -> str:
        region = arn.split(":")[3] if arn.count(":") >= 6 else ""
        try:
            value = make("secretsmanager", region).get_secret_value(SecretId=arn)
        except VpnLinkError:
            raise
        except Exception as exc:  # the message names the ARN, never a value
            raise VpnLinkError([f"secretsmanager:GetSecretValue of {arn} failed: "
                                f"{type(exc).__name__}"]) from None
        return str(value.get("SecretString", ""))

    return VpnInputs(described=described, describe=describe, get_secret=get_secret,
                     pulumi_dir=pulumi_dir)


# --- running and reading back ---------------------------------------------------------------

def pulumi_runner(cwd: Path, timeout: float = 120) -> Runner:
    """A :data:`Runner` for the ``pulumi`` on PATH in ``cwd``; its output is returned, never
    printed (``config get`` answers a key)."""

    def run(argv: Sequence[str], stdin: str | None) -> tuple[int, str]:
        from skyrelay.link import LinkError

        binary = shutil.which(argv[0])
        if binary is None:
            raise LinkError([f"no `{argv[0]}` on PATH: step 4 sets the tunnel keys with "
                             "`pulumi config set --secret`"])
        try:
            proc = subprocess.run([binary, *argv[1:]], cwd=cwd, input=stdin,
                                  capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LinkError([f"`{shlex.join(argv)}` could not run: {exc}"]) from None
        return proc.returncode, proc.stdout

    return run


def apply_secrets(settings: Sequence[SecretSetting], run: Runner) -> None:
    """Run each ``pulumi config set --secret`` with its key on standard input."""
    from skyrelay.link import LinkError

    for setting in settings:
        code, _ = run(setting.argv, setting.stdin)
        if code != 0:  # the command's output may echo the value: it is not shown
            raise LinkError([f"`{shlex.join(setting.argv)}` failed (exit {code})"])


def vpn_next_steps(spec: Spec, part: VpnPlanPart | None, out_dir: Path,
                   pulumi_stack: str | None) -> list[str]:
    """The VPN commands to run after this link, in the deploy order."""
    if part is None:
        return []
    stack = shlex.quote(pulumi_stack or "<stack>")
    steps = []
    if part.values_changed or part.waiting_for_deploy:
        names = " ".join(vpn_stack_name(spec.name, r) for r in vpn_regions(spec))
        steps.append(f"cdk deploy -c skyrelay:link={shlex.quote(str(out_dir))} {names} "
                     "--outputs-file <file>   # step 3: the AWS end of the private VPN")
        steps.append("skyrelay link --cdk-outputs <file> --stack "
                     f"{stack}   # step 4: the AWS tunnels and keys for Azure")
    if part.tunnels_changed or part.secrets:
        steps.append(f"(cd pulumi && pulumi up --stack {stack})"
                     "   # step 5: Azure's local network gateways and connections")
    return steps


def load_vpn_values(link_dir: Path | None, spec: Spec) -> dict[str, Any] | None:
    """The AWS link values of ``spec``'s private-vpn accounts, or None before step 2.

    Raises ``LinkError`` for a malformed or stale file (another platform, other accounts
    than the spec's private-vpn ones, addresses that cannot be a VPN gateway's).
    """
    from skyrelay.link import LinkError, read_json_input

    if link_dir is None:
        return None
    path = link_dir / vpn_values_filename(spec.name)
    if not path.exists():
        return None
    data = read_json_input(path, "VPN link values")
    problems = []
    if data.get("version") != VPN_LINK_VERSION or data.get("platform") != spec.name:
        raise LinkError([f"{path}: not version {VPN_LINK_VERSION} values of platform "
                         f"{spec.name!r}: run `skyrelay link` again (step 2)"])
    accounts = data.get("accounts")
    wanted = [a.name for a in private_vpn_accounts(spec)]
    if not isinstance(accounts, dict) or sorted(accounts) != sorted(wanted):
        got = sorted(accounts) if isinstance(accounts, dict) else accounts
        raise LinkError([f"{path}: values for accounts {got}, but the spec's private-vpn "
                         f"accounts are {wanted} (stale): run `skyrelay link` again (step 2)"])
    for name, value in accounts.items():
        problems += _value_problems(f"{path}: accounts.{name}", value)
    if problems:
        raise LinkError(problems)
    return accounts


def _value_problems(where: str, value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where} must be an object"]
    out = []
    ips = value.get("remoteGatewayIps")
    if not isinstance(ips, list) or len(ips) != 2 or not all(map(is_public_ipv4, ips)):
        out.append(f"{where}.remoteGatewayIps: expected two public IPv4 addresses, got {ips!r}")
    resolver = value.get("resolverIp")
    if not is_private_ipv4(resolver):
        out.append(f"{where}.resolverIp: expected a private address, got {resolver!r}")
    asn = value.get("remoteAsn")
    if not is_bgp_asn(asn):
        out.append(f"{where}.remoteAsn: expected a BGP ASN, got {asn!r}")
    return out
