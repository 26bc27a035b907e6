"""The offline plan: run the real Pulumi program under mocks and record its resource graph.

No cloud, no Pulumi CLI: :func:`run_offline` executes ``pulumi/__main__.py`` (the very file
``pulumi up`` runs) in-process with :class:`~skyrelay.pulumi.azure_mocks.AzureMocks`, and a
recording monitor keeps, for every registered resource, its type token, logical name,
parent, dependencies and inputs, in the engine's camelCase property names (the same shape
a CrossGuard policy receives as ``args.props``), plus the stack outputs.

It can run any number of times in one process: each run gets a fresh event loop, fresh
settings and its own config, and restores the previous state afterwards.

Example::

    from skyrelay.pulumi.offline import run_offline, write_offline_plan
    graph = run_offline("examples/platform.yaml")
    print([r.name for r in graph.of_type("azure-native:cognitiveservices:Deployment")])
    write_offline_plan("examples/platform.yaml", "cdk.out/azure-plan.json")
"""

from __future__ import annotations

import asyncio
import json
import os
import runpy
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.config import _SECRET_KEYS, CONFIG
from pulumi.runtime.settings import ROOT, get_project, get_stack, reset_options

from skyrelay.pulumi.azure_mocks import AzureMocks

PROGRAM = Path(__file__).resolve().with_name("__main__.py")
PROJECT = "skyrelay"
STACK = "offline"
FORMAT = "skyrelay.azure-plan/1"
#: Where ``skyrelay synth`` writes the graph, relative to the synth output folder.
PLAN_FILENAME = "azure-plan.json"

#: Config the offline plan uses where the stack would have real values. Clearly fake:
#: the principal is a zero GUID, the egress address is from TEST-NET-3 (RFC 5737).
PLACEHOLDER_CONFIG: dict[str, Any] = {
    "gatewayPrincipalId": "00000000-0000-0000-0000-00000000face",
    "gatewayEgressIps": ["203.0.113.10"],
}

STACK_TYPE = "pulumi:pulumi:Stack"
#: Said of every kind ``OpenAI`` account in the plan (see components/args.py ACCOUNT_KINDS).
DRIFT_NOTE = ("; DRIFT RISK: Microsoft upgrades eligible OpenAI accounts to Foundry (kind "
              "AIServices), after which `pulumi up` shows this account as changed; use kind "
              "AIServices unless it is an existing classic account")


def _plain(value: Any) -> Any:
    """JSON-ready copy: integral floats (protobuf numbers) back to ints, tuples to lists."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class GraphResource:
    """One registered resource: what a policy or a reviewer needs to judge it."""

    urn: str
    type: str
    name: str
    parent: str | None
    depends_on: tuple[str, ...]
    custom: bool
    id: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def azure_name(self) -> str | None:
        """The last segment of the ARM id: the name Azure will show."""
        return self.id.rsplit("/", 1)[-1] if self.id else None

    def as_dict(self) -> dict[str, Any]:
        """JSON form (keys in camelCase like the inputs)."""
        out: dict[str, Any] = {
            "urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
            "dependsOn": list(self.depends_on), "custom": self.custom, "id": self.id,
            "inputs": self.inputs,
        }
        if self.outputs:
            out["outputs"] = self.outputs
        return out


@dataclass
class ResourceGraph:
    """Every resource the program registered, and the stack outputs."""

    spec: str
    config: dict[str, Any]
    resources: list[GraphResource]
    outputs: dict[str, Any]

    def of_type(self, type_token: str) -> list[GraphResource]:
        """Resources of one type token, e.g. ``azure-native:cognitiveservices:Account``."""
        return [r for r in self.resources if r.type == type_token]

    def get(self, type_token: str, name: str) -> GraphResource:
        """The resource with this type and logical name (KeyError if absent)."""
        for r in self.resources:
            if r.type == type_token and r.name == name:
                return r
        raise KeyError(f"no {type_token} named {name!r} in the graph")

    def by_urn(self) -> dict[str, GraphResource]:
        """Resources keyed by URN."""
        return {r.urn: r for r in self.resources}

    def children(self, urn: str | None) -> list[GraphResource]:
        """Direct children of ``urn``, ordered by dependencies (see :func:`ordered`)."""
        return ordered([r for r in self.resources if r.parent == urn])

    def as_dict(self) -> dict[str, Any]:
        """The JSON document ``write_offline_plan`` writes."""
        return {
            "format": FORMAT,
            "project": PROJECT,
            "stack": STACK,
            "spec": self.spec,
            "mocked": True,
            "note": "Resource graph of pulumi/__main__.py run under mocks (no cloud calls). "
                    "Inputs use the engine's camelCase names, as CrossGuard policies see them; "
                    "ids are mock ARM ids; config values under 'placeholders' stand in for "
                    "the real stack config.",
            "config": self.config,
            "placeholders": sorted(k for k in PLACEHOLDER_CONFIG if k in self.config
                                   and self.config[k] == PLACEHOLDER_CONFIG[k]),
            "resources": [r.as_dict() for r in sorted(self.resources, key=lambda r: r.urn)],
            "outputs": self.outputs,
        }


#: Sibling order for display when dependencies do not decide it.
TYPE_ORDER = (
    "azure-native:resources:ResourceGroup",
    "skyrelay:azure:OpenAIAccount",
    "azure-native:cognitiveservices:Account",
    "azure-native:cognitiveservices:RaiPolicy",
    "azure-native:cognitiveservices:Deployment",
    "skyrelay:azure:PrivateLink",
    "azure-native:network:VirtualNetwork",
    "azure-native:network:Subnet",
    "azure-native:network:PrivateEndpoint",
    "azure-native:network:PrivateDnsZoneGroup",
    "azure-native:privatedns:PrivateZone",
    "azure-native:privatedns:VirtualNetworkLink",
    "skyrelay:azure:Diagnostics",
    "azure-native:operationalinsights:Workspace",
    "azure-native:monitor:DiagnosticSetting",
    "azure-native:authorization:RoleAssignment",
)


def ordered(siblings: list[GraphResource]) -> list[GraphResource]:
    """Siblings in dependency order (a deployment after the one it waits for), ties by type."""
    def rank(r: GraphResource) -> tuple[int, str]:
        pos = TYPE_ORDER.index(r.type) if r.type in TYPE_ORDER else len(TYPE_ORDER)
        return pos, r.name

    pending = sorted(siblings, key=rank)
    urns = {r.urn for r in pending}
    placed: set[str] = set()
    out: list[GraphResource] = []
    while pending:
        ready = [r for r in pending if all(d in placed or d not in urns for d in r.depends_on)]
        pick = ready[0] if ready else pending[0]  # a cycle cannot happen; stay total anyway
        out.append(pick)
        placed.add(pick.urn)
        pending.remove(pick)
    return out


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that also keeps parents, dependencies and registered outputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: dict[str, dict[str, Any]] = {}
        self.registered_outputs: dict[str, dict[str, Any]] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the engine makes them: the parent's full type chain, the stack left out.

        (The stock mock keeps only the parent's own type, so a deployment under an account
        under a component would not show the component.)
        """
        qualified = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                qualified = f"{parent_type}${type_}"
        return "urn:pulumi:" + "::".join([get_stack(), get_project(), qualified, name])

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        """Register via the mocks, then record the request's graph facts."""
        response = super().RegisterResource(request)
        pulumi_mocks._ensure_event_loop()
        self.records[response.urn] = {
            "type": request.type,
            "name": request.name,
            "parent": request.parent or None,
            "dependencies": tuple(sorted(set(request.dependencies))),
            "custom": bool(request.custom),
            "inputs": _plain(rpc.deserialize_properties(request.object)),
            "id": response.id or None,
        }
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        """Keep the outputs a component (or the stack) registers."""
        pulumi_mocks._ensure_event_loop()
        self.registered_outputs[request.urn] = _plain(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)

    def graph(self, spec: str, config: dict[str, Any]) -> ResourceGraph:
        """The recorded registrations as a :class:`ResourceGraph`."""
        resources = [
            GraphResource(urn=urn, type=rec["type"], name=rec["name"], parent=rec["parent"],
                          depends_on=rec["dependencies"], custom=rec["custom"], id=rec["id"],
                          inputs=rec["inputs"], outputs=self.registered_outputs.get(urn, {}))
            for urn, rec in self.records.items()
        ]
        stack_outputs = next((self.registered_outputs.get(r.urn, {}) for r in resources
                              if r.type == STACK_TYPE), {})
        return ResourceGraph(spec=spec, config=config, resources=resources,
                             outputs=stack_outputs)


def offline_config(spec_path: str | os.PathLike[str],
                   overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``skyrelay:*`` config of an offline run: spec path, placeholders, overrides."""
    config: dict[str, Any] = {"spec": str(Path(spec_path).resolve()), **PLACEHOLDER_CONFIG}
    config.update(overrides or {})
    return config


class StackConfigError(ValueError):
    """A ``Pulumi.<stack>.yaml`` cannot be used for the offline plan; the message says why."""


def read_stack_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``skyrelay:*`` values of a Pulumi stack config file, without the namespace.

    Plain and structured values are read as ``pulumi config`` stores them; a secret
    (``{secure: ...}``) cannot be decrypted offline and is refused by name. A relative
    ``skyrelay:spec`` is resolved against the file's folder (where Pulumi.yaml is).
    """
    import yaml

    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise StackConfigError(f"{file}: cannot read the stack config: {exc}") from None
    config = data.get("config") if isinstance(data, dict) else None
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise StackConfigError(f"{file}: 'config' must be a mapping")
    out: dict[str, Any] = {}
    for key, value in config.items():
        namespace, _, name = str(key).partition(":")
        if namespace != PROJECT or not name:
            continue  # other packages' config (azure-native:location, ...) is not ours
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise StackConfigError(f"{file}: {key} is a secret; the offline plan cannot "
                                   "decrypt it")
        out[name] = value
    if isinstance(out.get("spec"), str):
        out["spec"] = str((file.parent / out["spec"]).resolve())
    return out


def run_offline(spec_path: str | os.PathLike[str], config: Mapping[str, Any] | None = None,
                monitor: RecordingMonitor | None = None,
                stack_config: str | os.PathLike[str] | None = None) -> ResourceGraph:
    """Run ``pulumi/__main__.py`` under mocks for ``spec_path``; return its resource graph.

    ``config`` overrides ``skyrelay:*`` keys (without the namespace). ``stack_config`` names
    a real ``Pulumi.<stack>.yaml``: its ``skyrelay:*`` values replace the placeholders
    entirely, so the plan shows what ``pulumi up`` would do with that stack (or refuses as
    it would). Pass your own ``monitor`` to inspect what was registered even when the
    program raises. Errors of the program
    (:class:`~skyrelay.pulumi.program.ProgramError`) propagate unchanged.
    """
    if stack_config is not None:
        values: dict[str, Any] = {"spec": str(Path(spec_path).resolve()),
                                  **read_stack_config(stack_config), **(config or {})}
        values["spec"] = str(Path(spec_path).resolve())  # the spec asked for is the one built
    else:
        values = offline_config(spec_path, config)
    raw = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v)
           for k, v in values.items() if v is not None}  # None: leave the key unset
    subscription = _spec_subscription(spec_path)
    mocks = AzureMocks(subscription_id=subscription)
    monitor = monitor or RecordingMonitor(mocks)

    saved_config, saved_secrets = CONFIG.get(), _SECRET_KEYS.get()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        reset_options()
        pulumi.runtime.set_all_config(raw, [])
        pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=STACK, preview=False,
                                 monitor=monitor)
        # set_mocks starts a root stack of its own; run_in_stack starts the real one, as the
        # Pulumi CLI's Python host does, so exports land on the stack we record.
        ROOT.set(None)
        loop.run_until_complete(pulumi.runtime.run_in_stack(_run_program))
    finally:
        loop.close()
        asyncio.set_event_loop(asyncio.new_event_loop())
        reset_options()
        CONFIG.set(saved_config)
        _SECRET_KEYS.set(saved_secrets)
    return monitor.graph(str(spec_path), values)


def _run_program() -> None:
    # The folder, not the file: like the Pulumi CLI's Python host, runpy then puts the
    # folder first on sys.path while __main__.py runs (its import guard must cope).
    runpy.run_path(str(PROGRAM.parent), run_name="__main__")


def _spec_subscription(spec_path: str | os.PathLike[str]) -> str | None:
    """The spec's Azure subscription for mock ids, if it loads and names one."""
    from skyrelay.spec import SpecError, load_spec

    try:
        spec = load_spec(Path(spec_path))
    except (SpecError, OSError):
        return None  # the program itself reports the problem
    return spec.azure.subscription if spec.azure else None


def write_offline_plan(spec_path: str | os.PathLike[str], out_path: str | os.PathLike[str],
                       config: Mapping[str, Any] | None = None) -> Path:
    """Run the offline plan and write its JSON atomically to ``out_path``; return the path.

    The file appears complete or not at all (written to a temporary file, then renamed).
    """
    return write_plan_json(run_offline(spec_path, config), out_path)


def write_plan_json(graph: ResourceGraph, out_path: str | os.PathLike[str]) -> Path:
    """Write ``graph.as_dict()`` to ``out_path`` atomically; return the path."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(graph.as_dict(), fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the plan is no secret
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


# --- the tree for people ------------------------------------------------------------

def _summary(r: GraphResource) -> str:  # noqa: C901 - one branch per resource type
    i = r.inputs
    props = i.get("properties") or {}
    if r.type == "azure-native:resources:ResourceGroup":
        return f"{i.get('resourceGroupName')} ({i.get('location')})"
    if r.type == "azure-native:cognitiveservices:Account":
        acls = props.get("networkAcls") or {}
        ips = [rule.get("value") for rule in acls.get("ipRules") or []]
        return (f"{i.get('accountName')} kind {i.get('kind')} ({i.get('location')}), "
                f"subdomain {props.get('customSubDomainName')}, public access "
                f"{props.get('publicNetworkAccess')} (default {acls.get('defaultAction')}"
                + (f", allow {', '.join(ips)}" if ips else "") + "), local auth "
                + ("disabled" if props.get("disableLocalAuth") else "ENABLED")
                + f", identity {(i.get('identity') or {}).get('type')}"
                + (DRIFT_NOTE if i.get("kind") == "OpenAI" else ""))
    if r.type == "azure-native:cognitiveservices:RaiPolicy":
        filters = props.get("contentFilters") or []
        levels = sorted({f.get("severityThreshold") for f in filters if f.get("severityThreshold")})
        return (f"content filter {i.get('raiPolicyName')} (base {props.get('basePolicyName')}, "
                f"threshold {'/'.join(levels)}, {len(filters)} rules)")
    if r.type == "azure-native:cognitiveservices:Deployment":
        model = props.get("model") or {}
        sku = i.get("sku") or {}
        return (f"{i.get('deploymentName')} = {model.get('name')} {model.get('version')}, "
                f"{sku.get('name')} x{sku.get('capacity')}, filter "
                f"{props.get('raiPolicyName') or 'Azure default'}, "
                f"upgrade {props.get('versionUpgradeOption')}")
    if r.type == "azure-native:network:VirtualNetwork":
        prefixes = (i.get("addressSpace") or {}).get("addressPrefixes") or []
        return f"{i.get('virtualNetworkName')} {', '.join(prefixes)}"
    if r.type == "azure-native:network:Subnet":
        return f"{i.get('subnetName')} {i.get('addressPrefix')}"
    if r.type == "azure-native:network:PrivateEndpoint":
        conns = i.get("privateLinkServiceConnections") or [{}]
        return f"{i.get('privateEndpointName')} group {', '.join(conns[0].get('groupIds') or [])}"
    if r.type == "azure-native:privatedns:PrivateZone":
        return str(i.get("privateZoneName"))
    if r.type == "azure-native:privatedns:VirtualNetworkLink":
        return f"{i.get('virtualNetworkLinkName')} (auto-registration " \
               f"{'on' if i.get('registrationEnabled') else 'off'})"
    if r.type == "azure-native:network:PrivateDnsZoneGroup":
        return f"{len(i.get('privateDnsZoneConfigs') or [])} zones"
    if r.type == "azure-native:operationalinsights:Workspace":
        return f"{i.get('workspaceName')} retention {i.get('retentionInDays')} days"
    if r.type == "azure-native:monitor:DiagnosticSetting":
        logs = [e.get("category") or e.get("categoryGroup") for e in i.get("logs") or []]
        metrics = [m.get("category") for m in i.get("metrics") or []]
        return f"{i.get('name')}: logs {', '.join(logs)}; metrics {', '.join(metrics)}"
    if r.type == "azure-native:authorization:RoleAssignment":
        role = str(i.get("roleDefinitionId", "")).rsplit("/", 1)[-1]
        label = "Cognitive Services OpenAI User" if role.startswith("5e0bd9bd") else role
        return f"{label} -> {i.get('principalType')} {i.get('principalId')}"
    return ""


def tree(graph: ResourceGraph) -> list[dict[str, Any]]:
    """The graph as nested ``{type, name, summary, children}`` dicts under the stack."""
    def node(r: GraphResource) -> dict[str, Any]:
        return {"type": r.type, "name": r.name, "summary": _summary(r),
                "children": [node(c) for c in graph.children(r.urn)]}

    stacks = [r for r in graph.resources if r.type == STACK_TYPE]
    roots = graph.children(stacks[0].urn) if stacks else graph.children(None)
    return [node(r) for r in roots]


def short_type(type_token: str) -> str:
    """``azure-native:cognitiveservices:Deployment`` -> ``cognitiveservices:Deployment``."""
    return type_token.split(":", 1)[1] if type_token.count(":") >= 2 else type_token


def tree_lines(nodes: list[dict[str, Any]], indent: str = "") -> Iterator[str]:
    """Plain-text tree lines (for logs and tests; the CLI renders with rich)."""
    for n in nodes:
        yield f"{indent}{short_type(n['type'])} {n['name']}" + (
            f": {n['summary']}" if n["summary"] else "")
        yield from tree_lines(n["children"], indent + "  ")


def main(argv: list[str] | None = None) -> int:
    """``python -P -m skyrelay.pulumi.offline SPEC [--out FILE] [--json] [--stack-config F]``.

    Prints the resource tree (``--json``: a JSON document with the tree, the resource count
    and the stack outputs) and optionally writes the plan JSON. Exit 1 when the program
    refuses the spec (residency, config, component args), 2 when the spec is invalid.
    """
    import argparse
    import sys

    from skyrelay.pulumi.program import InvalidSpecError, ProgramError

    parser = argparse.ArgumentParser(prog="python -P -m skyrelay.pulumi.offline",
                                     description=main.__doc__)
    parser.add_argument("spec")
    parser.add_argument("--out", help="also write the plan JSON here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a tree")
    parser.add_argument("--stack-config", help="a Pulumi.<stack>.yaml whose skyrelay:* "
                        "config replaces the placeholders")
    args = parser.parse_args(argv)
    try:
        graph = run_offline(args.spec, stack_config=args.stack_config)
    except (ProgramError, StackConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, InvalidSpecError) else 1
    nodes = tree(graph)
    if args.out:
        write_plan_json(graph, args.out)
    if args.json:
        print(json.dumps({"resource_count": sum(r.custom for r in graph.resources),
                          "tree": nodes, "outputs": graph.outputs,
                          "plan_file": args.out}, indent=2))
    else:
        for line in tree_lines(nodes):
            print(line)
        if args.out:
            print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
