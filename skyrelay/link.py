"""``skyrelay link``: carry what exists only after a deploy from one cloud to the other.

What the spec determines is derived at synth time (Azure endpoints from custom subdomains,
deployment names, Bedrock ARNs). What only a deploy creates moves through outputs:

The order terminates: ``skyrelay link`` right after the AWS network stacks (the Pulumi stack
has no outputs yet) writes only the egress addresses; ``pulumi up`` then has what it needs;
a second ``skyrelay link`` wires the Azure outputs into the gateway configs.

* from ``cdk deploy --outputs-file`` (the ``<name>-<region>-network`` stacks): the NAT
  gateways' public addresses -> ``skyrelay:gatewayEgressIps`` in the Pulumi stack config
  file ``pulumi/Pulumi.<stack>.yaml`` (Azure's network rules for
  ``gateway-egress-only`` accounts);
* from ``pulumi stack output --json``: each account's endpoint and id, checked against the
  spec-derived ones, and the gateway's Azure identity (``skyrelay:gatewayPrincipalId`` in the
  same stack config) -> the gateway's config, one file per gateway region
  (``link/<name>-<region>-gateway-config.json``), which is exactly the value of the SSM
  parameter ``/skyrelay/<name>/gateway/config``. ``cdk deploy -c skyrelay:link=link`` puts
  it there; for a running gateway, :func:`put_parameter_command` is the equivalent CLI call.
* from a deployed ``<name>-<region>-gateway`` stack, when its outputs are in the file: the
  task role ARN (the gateway's AWS identity), and a check that the parameter name matches.

Every input is checked before anything is written; a missing, malformed or stale input
(outputs of another platform, endpoints that differ from the spec's, accounts or
deployments the spec does not have) is a :class:`LinkError` listing every problem, and
nothing is changed. Each file is replaced atomically.

Example::

    from skyrelay.link import LinkInputs, plan_link, apply_link
    plan = plan_link(spec, LinkInputs(cdk_outputs=..., pulumi_outputs=...,
                                      pulumi_config_file=Path("pulumi/Pulumi.prod.yaml")),
                     out_dir=Path("link"))
    for change in apply_link(plan):
        print(change)
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from skyrelay.spec import Spec
from skyrelay.views.gateway_config import gateway_config

LINK_VERSION = 1
#: Pulumi config keys (``pulumi/program.py``).
EGRESS_KEY = "skyrelay:gatewayEgressIps"
PRINCIPAL_KEY = "skyrelay:gatewayPrincipalId"
PRINCIPAL_TYPE_KEY = "skyrelay:gatewayPrincipalType"
#: CloudFormation output keys the link reads.
EGRESS_OUTPUT = "GatewayEgressIps"
TASK_ROLE_OUTPUT = "TaskRoleArn"
PARAMETER_OUTPUT = "ConfigParameterName"
#: The key of a :class:`Change` that creates a whole file.
NEW_FILE = "(new file)"
#: Ranges that are never a public source address (Azure's network rules see public ones).
_NOT_PUBLIC = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4"))


class LinkError(Exception):
    """An input is missing, malformed or stale; ``problems`` lists every one."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(dict.fromkeys(problems))
        super().__init__("\n".join(f"- {p}" for p in self.problems))


# --- names shared with the stacks ----------------------------------------------------------

def config_parameter_name(platform: str) -> str:
    """The SSM parameter that holds the gateway config (one per region, same name)."""
    return f"/skyrelay/{platform}/gateway/config"


def network_stack_name(platform: str, region: str) -> str:
    """Name of the network stack of ``region``."""
    return f"{platform}-{region}-network"


def gateway_stack_name(platform: str, region: str) -> str:
    """Name of the gateway stack of ``region``."""
    return f"{platform}-{region}-gateway"


def linked_config_filename(platform: str, region: str) -> str:
    """File name of the linked gateway config of ``region`` in the link folder."""
    return f"{platform}-{region}-gateway-config.json"


def needs_egress(spec: Spec, region: str) -> bool:
    """Whether the gateway in ``region`` has NAT egress (targets outside AWS exist)."""
    return region in spec.gateway.regions and bool(spec.azure or spec.openai_compatible)


def config_json(config: Mapping[str, Any]) -> str:
    """The config as stored in the parameter: compact, sorted, stable."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


# --- inputs --------------------------------------------------------------------------------

@dataclass
class LinkInputs:
    """The parsed inputs: CDK outputs (by stack), Pulumi outputs, the stack config file."""

    cdk_outputs: Mapping[str, Any]
    pulumi_outputs: Mapping[str, Any] | None = None
    pulumi_config_file: Path | None = None
    #: What the private VPN's step 4 reads from AWS (:mod:`skyrelay.link_vpn`).
    vpn: Any = None


def read_json_input(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; a :class:`LinkError` naming ``what`` otherwise."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise LinkError([f"{what}: cannot read {path}: {exc.strerror or exc}"]) from None
    return parse_json_input(text, f"{what} ({path})")


def parse_json_input(text: str, what: str) -> dict[str, Any]:
    """A JSON object from ``text``; a :class:`LinkError` naming ``what`` otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LinkError([f"{what}: not JSON ({exc.msg} at line {exc.lineno})"]) from None
    if not isinstance(data, dict):
        raise LinkError([f"{what}: expected a JSON object, got {type(data).__name__}"])
    return data


def pulumi_stack_outputs(stack: str, pulumi_dir: Path, timeout: float = 120) -> dict[str, Any]:
    """Run ``pulumi stack output --json --stack STACK`` in ``pulumi_dir``; its JSON object."""
    binary = shutil.which("pulumi")
    if binary is None:
        raise LinkError(["no `pulumi` on PATH: give the outputs as a file "
                         "(pulumi stack output --json > outputs.json)"])
    command = [binary, "stack", "output", "--json", "--stack", stack]
    try:
        proc = subprocess.run(command, cwd=pulumi_dir, capture_output=True, text=True,
                              timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LinkError([f"`{shlex.join(command)}` could not run: {exc}"]) from None
    if proc.returncode != 0:
        raise LinkError([f"`{shlex.join(command)}` failed (exit {proc.returncode}): "
                         f"{proc.stderr.strip()[-2000:]}"])
    return parse_json_input(proc.stdout, f"`{shlex.join(command)}`")


# --- the plan ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One change to one file: ``key`` went from ``before`` to ``after``."""

    path: Path
    key: str
    before: Any
    after: Any

    def __str__(self) -> str:
        if self.key == NEW_FILE:
            return f"{self.path}: new file ({self.after})"
        return f"{self.path}: {self.key}: {_show(self.before)} -> {_show(self.after)}"


@dataclass
class LinkPlan:
    """Everything :func:`apply_link` will write, and the changes it makes."""

    spec: Spec
    files: dict[Path, str] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: True for the first link of a new stack: egress addresses only, no gateway configs.
    before_pulumi: bool = False
    #: The private VPN's part (:class:`skyrelay.link_vpn.VpnPlanPart`), secret settings too.
    vpn: Any = None


def plan_link(spec: Spec, inputs: LinkInputs, out_dir: Path) -> LinkPlan:
    """Check every input against ``spec`` and compute the files to write; raise
    :class:`LinkError` listing every problem (nothing is written here)."""
    problems: list[str] = []
    cdk = _check_cdk_outputs(spec, inputs.cdk_outputs, problems)
    azure_accounts: dict[str, Any] = {}
    principal: dict[str, str] = {}
    stack_config: dict[str, Any] | None = None
    # A stack never deployed has no outputs (`pulumi stack output --json` prints {}): the
    # first link only carries the egress addresses `pulumi up` needs; the second, after it,
    # wires the Azure outputs into the gateway. That order always terminates.
    before_pulumi = spec.azure is not None and inputs.pulumi_outputs is not None \
        and not inputs.pulumi_outputs
    if spec.azure:
        if inputs.pulumi_outputs is None:
            problems.append("the spec has Azure accounts: give the Pulumi stack outputs "
                            "(pulumi stack output --json; {} before the first pulumi up)")
        elif not before_pulumi:
            azure_accounts = _check_pulumi_outputs(spec, inputs.pulumi_outputs, problems)
        if inputs.pulumi_config_file is None:
            problems.append("the spec has Azure accounts: name the Pulumi stack (its config "
                            "file receives the egress addresses)")
        else:
            stack_config = _read_stack_config(inputs.pulumi_config_file, problems)
            if stack_config is not None:
                principal = _principal(stack_config, inputs.pulumi_config_file, problems)
    if problems:
        raise LinkError(problems)

    plan = LinkPlan(spec, before_pulumi=before_pulumi)
    all_ips = sorted({ip for ips in cdk.egress.values() for ip in ips},
                     key=ipaddress.IPv4Address)
    if stack_config is not None and inputs.pulumi_config_file is not None:
        _plan_stack_config(plan, inputs.pulumi_config_file, stack_config, all_ips)
    from skyrelay.link_vpn import plan_vpn_link

    plan.vpn = plan_vpn_link(plan, inputs.pulumi_outputs, inputs.cdk_outputs,
                             inputs.pulumi_config_file, stack_config, out_dir, inputs.vpn)
    if before_pulumi:
        plan.notes.append("the Pulumi stack has no outputs yet: only the egress addresses were "
                          "linked; run `pulumi up`, then `skyrelay link` again for the gateway "
                          "configs")
        return plan
    for region in spec.gateway.regions:
        links: dict[str, Any] = {
            "version": LINK_VERSION,
            "platform": spec.name,
            "region": region,
            "config_parameter": config_parameter_name(spec.name),
            "egress_ips": cdk.egress.get(region, []),
        }
        if spec.azure:
            links["azure"] = {**principal, "accounts": azure_accounts}
        if region in cdk.task_roles:
            links["aws"] = {"task_role_arn": cdk.task_roles[region]}
        _plan_gateway_config(plan, out_dir / linked_config_filename(spec.name, region),
                             {**gateway_config(spec, region), "links": links})
    return plan


@dataclass
class _CdkFacts:
    egress: dict[str, list[str]] = field(default_factory=dict)
    task_roles: dict[str, str] = field(default_factory=dict)


def _check_cdk_outputs(spec: Spec, outputs: Mapping[str, Any],
                       problems: list[str]) -> _CdkFacts:
    facts = _CdkFacts()
    mine = [name for name in outputs if name.startswith(f"{spec.name}-")]
    if outputs and not mine:
        problems.append(f"CDK outputs: no stack of platform '{spec.name}' (found "
                        f"{', '.join(sorted(outputs))}): outputs of another spec?")
    for name, value in outputs.items():
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            problems.append(f"CDK outputs: '{name}' must map output names to strings")
    for region in spec.gateway.regions:
        stack = network_stack_name(spec.name, region)
        if needs_egress(spec, region):
            section = outputs.get(stack)
            if not isinstance(section, dict):
                problems.append(f"CDK outputs: stack '{stack}' is missing (deploy it with "
                                f"`cdk deploy {stack} --outputs-file <file>`)")
            elif EGRESS_OUTPUT not in section:
                problems.append(f"CDK outputs: '{stack}' has no '{EGRESS_OUTPUT}' output "
                                "(outputs of an older version of the stack?)")
            else:
                facts.egress[region] = _egress_ips(f"{stack}.{EGRESS_OUTPUT}",
                                                   section[EGRESS_OUTPUT], problems)
        gateway = outputs.get(gateway_stack_name(spec.name, region))
        if isinstance(gateway, dict):
            where = f"CDK outputs: '{gateway_stack_name(spec.name, region)}'"
            expected = config_parameter_name(spec.name)
            if gateway.get(PARAMETER_OUTPUT) != expected:
                problems.append(f"{where}.{PARAMETER_OUTPUT} is "
                                f"{gateway.get(PARAMETER_OUTPUT)!r}, expected {expected!r}")
            role = gateway.get(TASK_ROLE_OUTPUT)
            if not isinstance(role, str) or not role.startswith("arn:aws") \
                    or ":role/" not in role:
                problems.append(f"{where}.{TASK_ROLE_OUTPUT} is not an IAM role ARN: {role!r}")
            else:
                facts.task_roles[region] = role
    return facts


def _egress_ips(where: str, value: Any, problems: list[str]) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"CDK outputs: {where} is empty")
        return []
    ips: list[str] = []
    for item in value.split(","):
        item = item.strip()
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            problems.append(f"CDK outputs: {where}: {item!r} is not an IP address")
            continue
        if not isinstance(address, ipaddress.IPv4Address):
            problems.append(f"CDK outputs: {where}: {item} is not IPv4 (Azure rules are v4)")
        elif any(address in block for block in _NOT_PUBLIC):
            problems.append(f"CDK outputs: {where}: {item} is not a public address")
        else:
            ips.append(item)
    return ips


def _check_pulumi_outputs(spec: Spec, outputs: Mapping[str, Any],
                          problems: list[str]) -> dict[str, Any]:
    assert spec.azure is not None
    accounts = outputs.get("accounts")
    targets = outputs.get("targets")
    if not isinstance(accounts, dict) or not isinstance(targets, dict):
        problems.append("Pulumi outputs: expected objects 'accounts' and 'targets' "
                        "(pulumi stack output --json of the skyrelay project)")
        return {}
    wanted = {a.name: a for a in spec.azure.accounts}
    missing = sorted(set(wanted) - set(accounts))
    extra = sorted(set(accounts) - set(wanted))
    if missing:
        problems.append(f"Pulumi outputs: accounts {missing} are missing (run `pulumi up`)")
    if extra:
        problems.append(f"Pulumi outputs: accounts {extra} are not in the spec: outputs of "
                        "another spec, or a stack that still has accounts the spec dropped")
    linked: dict[str, Any] = {}
    for name, acct in wanted.items():
        out = accounts.get(name)
        if not isinstance(out, dict):
            if name in accounts:
                problems.append(f"Pulumi outputs: accounts.{name} must be an object")
            continue
        where = f"Pulumi outputs: accounts.{name}"
        if out.get("endpoint") != acct.endpoint:
            problems.append(f"{where}.endpoint is {out.get('endpoint')!r} but the spec derives "
                            f"{acct.endpoint!r} (custom subdomain changed? run `pulumi up`)")
        deployments = out.get("deployments")
        expected = [d.name for d in acct.deployments]
        if not isinstance(deployments, list) or sorted(map(str, deployments)) != sorted(expected):
            problems.append(f"{where}.deployments is {deployments!r}, the spec has {expected}")
        account_id = out.get("id")
        if not isinstance(account_id, str) or not account_id.startswith("/subscriptions/"):
            problems.append(f"{where}.id is not an Azure resource id: {account_id!r}")
        if out.get("location") != acct.location:
            problems.append(f"{where}.location is {out.get('location')!r}, the spec says "
                            f"{acct.location!r}")
        linked[name] = {"endpoint": acct.endpoint, "id": account_id, "location": acct.location}
        for dep in acct.deployments:
            key = f"azure:{name}/{dep.name}"
            target = targets.get(key)
            if not isinstance(target, dict):
                problems.append(f"Pulumi outputs: targets['{key}'] is missing")
            elif (target.get("endpoint"), target.get("deployment")) != (acct.endpoint, dep.name):
                problems.append(f"Pulumi outputs: targets['{key}'] points at "
                                f"{target.get('endpoint')!r} / {target.get('deployment')!r}, "
                                f"the spec derives {acct.endpoint!r} / {dep.name!r}")
    known = {f"azure:{a.name}/{d.name}" for a in spec.azure.accounts for d in a.deployments}
    stray = sorted(set(targets) - known)
    if stray:
        problems.append(f"Pulumi outputs: targets {stray} are not in the spec (stale outputs)")
    return linked


def _read_stack_config(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        problems.append(f"{path} does not exist: run `pulumi stack init` and "
                        f"`pulumi config set {PRINCIPAL_KEY} <object-id>` in {path.parent}")
        return None
    except (OSError, yaml.YAMLError) as exc:
        problems.append(f"{path}: cannot read it as YAML: {exc}")
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
        problems.append(f"{path}: expected a mapping with a 'config' mapping")
        return None
    return data


def _principal(stack_config: Mapping[str, Any], path: Path,
               problems: list[str]) -> dict[str, str]:
    config = stack_config.get("config") or {}
    principal = config.get(PRINCIPAL_KEY)
    if not isinstance(principal, str) or not principal.strip():
        problems.append(f"{path}: {PRINCIPAL_KEY} is not set (plainly): the gateway's Entra "
                        "identity is what Azure granted access to")
        return {}
    return {"principal_id": principal.strip(),
            "principal_type": str(config.get(PRINCIPAL_TYPE_KEY) or "ServicePrincipal")}


def _plan_stack_config(plan: LinkPlan, path: Path, data: dict[str, Any],
                       ips: list[str]) -> None:
    config = data.setdefault("config", {}) or {}
    data["config"] = config
    before = config.get(EGRESS_KEY)
    if not ips:
        return  # no region egresses through NAT: nothing for Azure's network rules
    if before == ips:
        return
    config[EGRESS_KEY] = ips
    plan.changes.append(Change(path, EGRESS_KEY, before, ips))
    plan.files[path] = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    if any(line.lstrip().startswith("#") for line in path.read_text().splitlines()):
        plan.notes.append(f"{path}: rewritten without its comments (values and order kept)")


def _plan_gateway_config(plan: LinkPlan, path: Path, config: dict[str, Any]) -> None:
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    try:
        before = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        before = None
    if before == config:
        return
    plan.files[path] = text
    if before is None:
        plan.changes.append(Change(path, NEW_FILE, None,
                                   f"gateway config, {len(config_json(config))} bytes"))
        return
    for key, old, new in _diff(before, config):
        plan.changes.append(Change(path, key, old, new))


def _diff(before: Any, after: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            out += _diff(before.get(key), after.get(key), f"{prefix}.{key}" if prefix else key)
        return out
    return [] if before == after else [(prefix or "(value)", before, after)]


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    return value if isinstance(value, str) else json.dumps(value)


def put_parameter_command(platform: str, region: str, out_dir: Path) -> str:
    """The AWS CLI call that stores the linked config of ``region`` in its parameter."""
    path = out_dir / linked_config_filename(platform, region)
    return shlex.join(["aws", "ssm", "put-parameter", "--region", region,
                       "--name", config_parameter_name(platform), "--type", "String",
                       "--tier", "Advanced", "--overwrite", "--value", f"file://{path}"])


def next_steps(plan: LinkPlan, out_dir: Path, cdk_outputs: Mapping[str, Any],
               pulumi_stack: str | None) -> list[str]:
    """What to run after the link, in order, as commands with a comment each."""
    spec = plan.spec
    steps: list[str] = []
    egress_changed = any(c.key == EGRESS_KEY for c in plan.changes)
    egress_only = spec.azure is not None and any(
        a.public_network_access == "gateway-egress-only" for a in spec.azure.accounts)
    stack = shlex.quote(pulumi_stack or "<stack>")
    if plan.before_pulumi:
        return [f"(cd pulumi && pulumi up --stack {stack})"
                "   # the Azure side, its network rules admitting the gateways' NAT addresses",
                f"skyrelay link --cdk-outputs <file> --stack {stack}"
                "   # again: the Azure outputs into the gateway configs"]
    if egress_changed and egress_only and pulumi_stack:
        steps.append(f"(cd pulumi && pulumi up --stack {stack})"
                     "   # Azure network rules admit the new egress addresses")
    stacks = " ".join(gateway_stack_name(spec.name, r) for r in spec.gateway.regions)
    steps.append(f"cdk deploy -c skyrelay:link={shlex.quote(str(out_dir))} {stacks}"
                 "   # the gateway with the linked config")
    for region in spec.gateway.regions:
        outputs = cdk_outputs.get(gateway_stack_name(spec.name, region))
        if not isinstance(outputs, dict) or "ClusterName" not in outputs:
            continue  # not deployed yet: the deploy above is the way in
        steps.append(put_parameter_command(spec.name, region, out_dir)
                     + "   # or, for the running gateway, store it directly ...")
        steps.append(shlex.join(["aws", "ecs", "update-service", "--region", region,
                                 "--cluster", str(outputs["ClusterName"]),
                                 "--service", str(outputs.get("ServiceName", "")),
                                 "--force-new-deployment"])
                     + "   # ... and restart the tasks (ECS injects it at start)")
    from skyrelay.link_vpn import vpn_next_steps

    return steps + vpn_next_steps(spec, plan.vpn, out_dir, pulumi_stack)


def apply_link(plan: LinkPlan) -> list[Change]:
    """Write the planned files (each atomically); return the changes made."""
    for path, text in plan.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            if path.exists():
                os.chmod(tmp, path.stat().st_mode & 0o777)
            else:
                os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    if plan.vpn is not None and plan.vpn.secrets:  # after the stack file: pulumi edits it
        from skyrelay.link_vpn import apply_secrets

        apply_secrets(plan.vpn.secrets, plan.vpn.run)
    return list(plan.changes)


# --- read back at synth --------------------------------------------------------------------

def load_linked_config(link_dir: Path, spec: Spec, region: str) -> dict[str, Any]:
    """The linked gateway config of ``region`` from ``link_dir``, checked against ``spec``.

    Raises :class:`LinkError` when the file is missing or malformed, or when it is stale:
    written for another platform or region, or before the spec last changed (its derived
    part differs from what the spec derives now).
    """
    path = link_dir / linked_config_filename(spec.name, region)
    data = read_json_input(path, "linked gateway config")
    links = data.get("links")
    problems: list[str] = []
    if not isinstance(links, dict) or links.get("version") != LINK_VERSION:
        raise LinkError([f"{path}: no 'links' section of version {LINK_VERSION}; "
                         "run `skyrelay link` again"])
    if (links.get("platform"), links.get("region")) != (spec.name, region):
        problems.append(f"{path}: written for {links.get('platform')!r} in "
                        f"{links.get('region')!r}, not {spec.name!r} in {region!r}")
    derived = gateway_config(spec, region)
    stale = sorted(k for k in set(derived) | (set(data) - {"links"})
                   if derived.get(k) != data.get(k))
    if stale:
        problems.append(f"{path}: stale ({', '.join(stale)} differ from what the spec derives "
                        "now): run `skyrelay link` again")
    if problems:
        raise LinkError(problems)
    return data
