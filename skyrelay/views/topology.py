"""The platform as a graph: tenants, routes, gateways, targets and the network paths between.

A plain data model, with no drawing in it (:mod:`skyrelay.render_svg_topology` lays it out
with Graphviz). What it holds, all derived from the spec:

* a **tenant** node per tenant (its classification and where that lets data be processed),
  with a ``uses`` edge to each route it may call;
* a **route** node per route, with a ``route`` edge to each target (strategy and weight);
* a **gateway** node per gateway region, inside its AWS region;
* a **target** node per distinct route target (a Bedrock model in a region, an Azure
  deployment, a model of an OpenAI-compatible endpoint);
* an **endpoint** node per Azure account and OpenAI-compatible endpoint: the address a
  gateway sends that account's requests to, labelled with how the account admits it;
* a ``path`` edge from each gateway to every Bedrock target and endpoint it can reach, by
  :func:`skyrelay.views.reachability.target_path` (the function the gateway config and
  ``validate`` use). A path is flagged when it leaves the VPC, crosses to another cloud, or
  crosses a jurisdiction: the destination may process data outside the geography of the
  gateway's region (``skyrelay.regions``: geographies are legal jurisdictions). A private VPN
  path (``gateway_path: private-vpn``) is drawn as private: it leaves the VPC only into the
  region's IPsec tunnels to the account's network, never onto the internet in the clear.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.topology import build_topology
    topo = build_topology(load_spec("examples/platform.yaml"))
    assert {n.kind for n in topo.nodes} >= {"tenant", "route", "gateway", "target"}
    crossing = [e for e in topo.edges if e.crosses_jurisdiction]
"""

from __future__ import annotations

from dataclasses import dataclass

from skyrelay import regions
from skyrelay.spec.models import Spec
from skyrelay.spec.resolve import ResolvedTarget, target_index
from skyrelay.views.reachability import (
    CROSS_REGION,
    NAT,
    PRIVATE_PATHS,
    PRIVATE_VPN,
    VPC_ENDPOINT,
    target_path,
)

#: Short edge labels per path (the plan's reachability table has the long text).
PATH_LABEL = {
    VPC_ENDPOINT: "VPC endpoint",
    CROSS_REGION: "NAT, public Bedrock endpoint",
    NAT: "NAT egress",
    PRIVATE_VPN: "private VPN (IPsec, BGP)",
}


@dataclass(frozen=True)
class Cluster:
    """A box around nodes: a cloud, an AWS region, an Azure account, the routing table."""

    id: str
    label: str
    parent: str | None = None


@dataclass(frozen=True)
class Node:
    """One box in the diagram; ``id`` is unique (a target's id is its route target key)."""

    id: str
    kind: str  # tenant | route | gateway | target | endpoint
    name: str
    detail: tuple[str, ...] = ()
    cluster: str | None = None


@dataclass(frozen=True)
class Edge:
    """A line between two nodes; ``kind`` is ``uses``, ``route`` or ``path``."""

    source: str
    target: str
    kind: str
    label: str = ""
    path: str = ""
    leaves_vpc: bool = False
    crosses_cloud: bool = False
    #: "us -> eu" when the destination may process outside the gateway's jurisdiction
    crossing: str = ""

    @property
    def crosses_jurisdiction(self) -> bool:
        """True when the path takes data out of the gateway region's jurisdiction."""
        return bool(self.crossing)


@dataclass(frozen=True)
class Topology:
    """The whole graph, in the spec's order."""

    clusters: tuple[Cluster, ...]
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def of_kind(self, kind: str) -> list[Node]:
        """The nodes of one kind, e.g. ``topo.of_kind("tenant")``."""
        return [n for n in self.nodes if n.kind == kind]


def _jurisdictions(processing: frozenset[str]) -> str:
    """The geographies a processing set touches: ``eu``, ``eu+us``, or ``any``."""
    if regions.ANY in processing:
        return "any"
    geos = set()
    for member in processing:
        cloud, _, place = member.partition(":")
        table = regions.AWS_REGIONS if cloud == "aws" else regions.AZURE_REGIONS
        geos.add(table.get(place, "?"))
    return "+".join(sorted(geos))


def _route_label(strategy: str, position: int, weight: int) -> str:
    if strategy == "priority":
        return f"priority {position}"
    if strategy == "weighted":
        return f"weight {weight}"
    return strategy


def _target_node(t: ResolvedTarget) -> Node:
    if t.cloud == "bedrock":
        name, what, cluster = t.key.rpartition("/")[2], t.model, f"aws:{t.region}"
    elif t.cloud == "azure":
        name, what, cluster = t.model, f"{t.base_model} {t.sku}".strip(), f"azure:{t.account}"
    else:
        name, what, cluster = t.model, t.kind, f"openai:{t.account}"
    return Node(t.key, "target", name,
                (what, f"processes in: {regions.describe(t.processing)}"), cluster)


def _clusters(spec: Spec, bedrock_regions: list[str]) -> list[Cluster]:
    out = [Cluster("tenants", "Tenants"), Cluster("routes", "Routes (every gateway)")]
    aws_regions = list(spec.aws.regions) if spec.aws else []
    aws_regions += [r for r in [*spec.gateway.regions, *bedrock_regions] if r not in aws_regions]
    if aws_regions:
        out.append(Cluster("cloud:aws", "AWS"))
        for region in aws_regions:
            cfg = spec.aws.regions.get(region) if spec.aws else None
            vpc = f" · VPC {cfg.vpc_cidr}" if cfg and region in spec.gateway.regions else ""
            out.append(Cluster(f"aws:{region}", f"{region}{vpc}", "cloud:aws"))
    if spec.azure:
        out.append(Cluster("cloud:azure", "Azure"))
        out += [Cluster(f"azure:{a.name}", f"{a.name} ({a.location})", "cloud:azure")
                for a in spec.azure.accounts]
    if spec.openai_compatible:
        out.append(Cluster("cloud:openai", "OpenAI-compatible"))
        out += [Cluster(f"openai:{e.name}", e.name, "cloud:openai")
                for e in spec.openai_compatible]
    return out


def _endpoint_nodes(spec: Spec) -> list[Node]:
    out = []
    gateways = ", ".join(spec.gateway.regions) or "no gateway"
    for acct in spec.azure.accounts if spec.azure else ():
        how: tuple[str, ...]
        if acct.public_network_access == "gateway-egress-only":
            how = ("public endpoint, default deny", f"allow-list: NAT egress of {gateways}")
        else:
            # Whatever private path reachability knows of (private-vpn) is named.
            key = f"azure:{acct.name}/{acct.deployments[0].name}"
            paths = sorted({p for r in spec.gateway.regions
                            if isinstance(p := target_path(spec, r, key), str)})
            how = ("private endpoint only",
                   f"over: {', '.join(PATH_LABEL.get(p, p) for p in paths)}" if paths
                   else "no path from a gateway")
            if PRIVATE_VPN in paths:
                how = (*how, f"tunnels from: {gateways}")
        out.append(Node(f"endpoint:azure:{acct.name}", "endpoint", acct.endpoint, how,
                        f"azure:{acct.name}"))
    for ep in spec.openai_compatible:
        where = regions.describe(regions.expand_allowed(ep.processing))
        out.append(Node(f"endpoint:openai:{ep.name}", "endpoint", ep.base_url,
                        (f"processes in: {where}",), f"openai:{ep.name}"))
    return out


def _path_edge(spec: Spec, region: str, key: str, dest: str, processing: frozenset[str],
               to_cloud: str) -> Edge | None:
    path = target_path(spec, region, key)
    if not isinstance(path, str):
        return None  # unreachable: the reachability table says why
    home = regions.AWS_REGIONS[region]
    crossing = "" if regions.satisfies(processing, regions.regions_of_geography(home)) \
        else f"{home} → {_jurisdictions(processing)}"
    return Edge(f"gateway:{region}", dest, "path", PATH_LABEL.get(path, path), path,
                leaves_vpc=path not in PRIVATE_PATHS, crosses_cloud=to_cloud != "bedrock",
                crossing=crossing)


def _path_edges(spec: Spec, keys: list[str], index: dict[str, ResolvedTarget]) -> list[Edge]:
    """Gateway -> Bedrock target, and gateway -> endpoint of each Azure account or
    compatible endpoint one of whose targets a route names."""
    out = []
    for region in spec.gateway.regions:
        seen: set[str] = set()
        for key in keys:
            t = index[key]
            if t.cloud == "bedrock":
                edge = _path_edge(spec, region, key, key, t.processing, t.cloud)
            else:
                dest = f"endpoint:{t.cloud}:{t.account}"
                if dest in seen:
                    continue
                seen.add(dest)
                # The request crosses to where the endpoint lives: an Azure account's
                # location, or wherever a compatible endpoint says it processes.
                where = (frozenset({f"azure:{t.region}"}) if t.cloud == "azure"
                         else t.processing)
                edge = _path_edge(spec, region, key, dest, where, t.cloud)
            if edge is not None:
                out.append(edge)
    return out


def build_topology(spec: Spec) -> Topology:
    """The graph of a validated spec (see the module docstring for what is in it)."""
    index = target_index(spec)
    keys = list(dict.fromkeys(t.key for r in spec.routes for t in r.targets))
    rules = spec.compliance.classifications
    nodes = [Node(f"tenant:{t.name}", "tenant", t.name,
                  (f"{t.classification}: {', '.join(rules[t.classification].allowed)}"
                   if t.classification in rules else t.classification,), "tenants")
             for t in spec.tenants]
    nodes += [Node(f"route:{r.name}", "route", r.name, (f"{r.kind} · {r.strategy}",), "routes")
              for r in spec.routes]
    nodes += [Node(f"gateway:{g}", "gateway", f"gateway {g}", (_listener(spec),), f"aws:{g}")
              for g in spec.gateway.regions]
    nodes += [_target_node(index[k]) for k in keys]
    nodes += _endpoint_nodes(spec)
    edges = [Edge(f"tenant:{t.name}", f"route:{r}", "uses")
             for t in spec.tenants for r in dict.fromkeys(t.routes)]
    edges += [Edge(f"route:{r.name}", t.key, "route", _route_label(r.strategy, i, t.weight))
              for r in spec.routes for i, t in enumerate(r.targets, 1)]
    edges += _path_edges(spec, keys, index)
    bedrock_regions = [index[k].region for k in keys if index[k].cloud == "bedrock"]
    return Topology(tuple(_clusters(spec, bedrock_regions)), tuple(nodes), tuple(edges))


def _listener(spec: Spec) -> str:
    tls = spec.gateway.tls
    if tls.certificate == "plain-http":
        return "HTTP :80 (plain-http opt-out)"
    return f"HTTPS :443 ({tls.certificate})"
