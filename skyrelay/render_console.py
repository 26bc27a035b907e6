"""The plan for people: ``skyrelay plan`` as rich trees and tables on the console.

Example::

    from skyrelay.render_console import render_plan
    render_plan(build_plan(spec, traffic))   # prints to stdout
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

console = Console()
if not console.is_terminal:  # piped or captured: 80 columns would fold every table
    console.width = 140


def _add_resource_nodes(parent: Tree, nodes: list[dict[str, Any]]) -> None:
    for n in nodes:
        label = f"[cyan]{escape(n['type'].removeprefix('azure-native:'))}[/] {escape(n['name'])}"
        if n["summary"]:
            label += f"  [dim]{escape(n['summary'])}[/]"
        _add_resource_nodes(parent.add(label), n["children"])


def render_plan(document: dict[str, Any]) -> None:
    """Print the plan for people."""
    tree = Tree(f"[bold]{document['name']}[/]")
    aws = tree.add("AWS")
    for r in document["aws"]:
        zones = ", ".join(r["vpc"]["zone_ids"])
        node = aws.add(f"[cyan]{r['region']}[/] VPC {r['vpc']['cidr']} ({zones})"
                       + (", gateway" if r["gateway"] else ""))
        for m in r["bedrock_models"]:
            node.add(f"bedrock {m['name']} = {m['model_id']}  "
                     f"[dim]processes in {m['processing']}[/]")
        for job in r["fine_tuning_jobs"]:
            node.add(f"fine-tuning job {job}")
    azure = tree.add("Azure")
    for a in document["azure"]:
        node = azure.add(f"[cyan]{a['account']}[/] ({a['location']}) {a['endpoint']}"
                         f" public access: {a['public_network_access']}")
        for d in a["deployments"]:
            node.add(f"deployment {d['name']} = {d['model']} {d['version']} {d['sku']} "
                     f"x{d['capacity']}  [dim]processes in {d['processing']}[/]")
    console.print(tree)
    resources = document.get("azure_resources")
    if resources:
        azure_tree = Tree(f"[bold]Azure resources[/] [dim](pulumi/__main__.py under mocks, "
                          f"{resources['resource_count']} resources)[/]")
        _add_resource_nodes(azure_tree, resources["tree"])
        console.print(azure_tree)

    table = Table(title="Routes", show_lines=True)
    for col in ("route", "strategy", "target", "processes in", "classifications"):
        table.add_column(col, overflow="fold")
    for route in document["routes"]:
        for i, t in enumerate(route["targets"]):
            table.add_row(route["name"] if i == 0 else "", route["strategy"] if i == 0 else "",
                          t["key"] + (f" (w={t['weight']})" if route["strategy"] == "weighted"
                                      else ""),
                          t["processing"], ", ".join(t["classifications"]) or "none")
    console.print(table)

    _render_gateways(document.get("gateways", []))
    _render_private_paths(document.get("private_paths", []), document["cost"]["currency"])

    cost = document["cost"]
    ctable = Table(title=f"Monthly cost estimate ({cost['currency']})")
    ctable.add_column("route")
    ctable.add_column("cost", justify="right")
    for r in cost["routes"]:
        ctable.add_row(r["route"], f"{r['total']:,.2f}")
    for key, value in cost["fixed"].items():
        ctable.add_row(f"fixed: {key}", f"{value:,.2f}")
    ctable.add_row("[bold]total[/]", f"[bold]{document['totals']['monthly_cost']:,.2f}[/]")
    console.print(ctable)
    console.print(f"[dim]traffic profile: {cost['traffic']['requests_per_month_per_route']:,} "
                  f"requests per route per month, {cost['traffic']['input_tokens']} input and "
                  f"{cost['traffic']['output_tokens']} output tokens each[/]")


def _render_gateways(gateways: list[dict[str, Any]]) -> None:
    """Per gateway region: the listener, and which targets each route reaches there."""
    for g in gateways:
        listener = g["listener"]
        title = (f"Gateway {g['region']}: {listener['protocol']} on {listener['port']} "
                 f"({listener['certificate']}"
                 + (f", {listener['domain_name']}" if listener.get("domain_name") else "")
                 + ")")
        table = Table(title=title, show_lines=True)
        for col in ("route", "reachable target", "path", "not reachable"):
            table.add_column(col, overflow="fold")
        for r in g["routes"]:
            table.add_row(
                r["route"], "\n".join(t["key"] for t in r["targets"]) or "[red]none[/]",
                "\n".join(t["path"] + (" [yellow](leaves the VPC)[/]" if t["leaves_vpc"]
                                       else "") for t in r["targets"]),
                "\n".join(f"{u['key']}: {escape(u['reason'])}" for u in r["unreachable"]))
        console.print(table)
        if listener.get("warning"):
            console.print(f"[bold yellow]warning:[/] gateway {g['region']}: "
                          f"{escape(listener['warning'])}")
        if g["cross_region_warning"]:
            console.print(f"[bold yellow]note:[/] gateway {g['region']}: cross-region Bedrock "
                          f"traffic (to {', '.join(g['cross_region_bedrock'])}) leaves the VPC "
                          "through the NAT gateways")


def _render_private_paths(paths: list[dict[str, Any]], currency: str) -> None:
    """Per gateway region: the private VPN to Azure and its monthly cost lines."""
    for p in paths:
        accounts = ", ".join(a["account"] for a in p["accounts"])
        table = Table(title=f"Private VPN {p['region']} -> {accounts} ({p['stack']}: "
                            f"{p['connections']} connections, {p['tunnels']} tunnels, "
                            f"{p['routing']})", show_lines=False)
        for col in ("item", "qty", f"per hour ({currency})", f"per month ({currency})",
                    "source"):
            table.add_column(col, overflow="fold")
        lines = p["cost"] + [c for a in p["accounts"] for c in a["azure_cost"]]
        for c in lines:
            table.add_row(f"{c['scope']}: {escape(c['item'])}", str(c["quantity"]),
                          "?" if c["price_per_hour"] is None else f"{c['price_per_hour']:g}",
                          "[yellow]unknown[/]" if c["monthly"] is None
                          else f"{c['monthly']:,.2f}", escape(c["source"]))
        console.print(table)
        names = ", ".join(d for a in p["accounts"] for d in a["forwarded_domains"])
        console.print(f"[dim]DNS forwarded to Azure: {escape(names)}; "
                      f"{escape(p['needs_link'])}[/]")
        if p["missing_prices"]:
            console.print("[bold yellow]note:[/] prices not known (no citable default; give "
                          "them in the spec): " + escape("; ".join(p["missing_prices"])))
