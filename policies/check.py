"""``skyrelay check``: every rule over a synthesized output folder and the gateway config.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.policies.check import run_checks
    report = run_checks(load_spec("examples/platform.yaml"), Path("cdk.out"))
    assert not report.errors
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skyrelay import regions
from skyrelay.policies import aws_templates, aws_vpn_rules, azure_graph, gateway_rules
from skyrelay.policies.rules import RULES, Violation
from skyrelay.spec.models import Spec
from skyrelay.views.gateway_config import gateway_config


@dataclass
class Report:
    """Violations per rule, plus which rules ran (a rule with no input is not reported)."""

    violations: list[Violation] = field(default_factory=list)
    ran: set[str] = field(default_factory=set)

    @property
    def errors(self) -> list[Violation]:
        """The error-level violations (these make ``check`` exit 1)."""
        return [v for v in self.violations if RULES[v.rule].severity == "error"]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: one row per rule with its result and violations."""
        rows = []
        for rid, rule in RULES.items():
            found = [v for v in self.violations if v.rule == rid]
            result = ("not run" if rid not in self.ran else
                      "pass" if not found else "fail" if rule.severity == "error" else "warn")
            rows.append({"rule": rid, "severity": rule.severity, "clouds": list(rule.clouds),
                         "description": rule.description, "result": result,
                         "violations": [{"resource": v.resource, "message": v.message}
                                        for v in found]})
        return {"ok": not self.errors, "rules": rows}


def allowed_places(spec: Spec) -> frozenset[str]:
    """Union of every classification's allowed processing set (``regions.ANY`` for any)."""
    out: set[str] = set()
    for c in spec.compliance.classifications.values():
        out |= c.allowed_set()
    return frozenset(out)


def azure_allowed(spec: Spec) -> azure_graph.AzureAllowed:
    """The spec data the Azure rules read."""
    places = allowed_places(spec)
    locations = None if regions.ANY in places else frozenset(
        p.split(":", 1)[1] for p in places if p.startswith("azure:"))
    declared: dict[tuple[str, str], tuple[str, str]] = {(a.name, d.name): (d.model, d.sku)
                for a in (spec.azure.accounts if spec.azure else ()) for d in a.deployments}
    private = frozenset(a.name for a in (spec.azure.accounts if spec.azure else ())
                        if a.gateway_path == "private-vpn")
    return azure_graph.AzureAllowed(declared, locations, private)


def _stacks(outdir: Path) -> list[tuple[str, str, Path]]:
    """(stack name, region, template path) from the cloud assembly manifest."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    out = []
    for name, art in manifest.get("artifacts", {}).items():
        if art.get("type") == "aws:cloudformation:stack":
            region = str(art.get("environment", "")).rsplit("/", 1)[-1]
            out.append((name, region, outdir / art["properties"]["templateFile"]))
    return sorted(out)


def run_checks(spec: Spec, outdir: Path) -> Report:
    """Run the AWS, Azure and gateway rules over ``outdir`` (a ``skyrelay synth`` folder)."""
    report = Report()
    places = allowed_places(spec)
    stacks = _stacks(outdir) if (outdir / "manifest.json").exists() else []
    if stacks:  # no AWS side: the AWS rules show "not run" rather than a vacuous pass
        report.ran |= {r for r in RULES if r.startswith("SKY-AWS")}
        templates = {}
        for name, region, path in stacks:
            template = templates[name] = json.loads(path.read_text())
            report.violations += aws_templates.check_template(template, name)
            if region and region != "unknown-region":  # env-agnostic stacks name no region
                report.violations += aws_templates.check_region(region, places, name)
        report.violations += aws_vpn_rules.check_vpn_coverage(spec, templates)
    plan = outdir / "azure-plan.json"
    entries = azure_graph.plan_entries(json.loads(plan.read_text())) if plan.exists() else []
    if entries:
        report.ran |= {r for r in RULES if r.startswith("SKY-AZ")}
        report.violations += azure_graph.check_graph(entries, azure_allowed(spec))
    report.ran |= {r for r in RULES if r.startswith("SKY-GW")}
    report.violations += gateway_rules.check_gateway_config(gateway_config(spec))
    return report


def render(report: Report, console: Any) -> None:
    """Print the rule x cloud x result table (with the offending resources) on a rich console."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="skyrelay check", show_lines=False)
    for col in ("rule", "cloud", "severity", "result", "resource / message"):
        table.add_column(col)
    colours = {"pass": "green", "fail": "bold red", "warn": "yellow", "not run": "dim"}
    for row in report.as_dict()["rules"]:
        found = row["violations"]
        detail = "\n".join(escape(f"{v['resource']}: {v['message']}") for v in found)
        table.add_row(row["rule"], ", ".join(row["clouds"]), row["severity"],
                      f"[{colours[row['result']]}]{row['result']}[/]",
                      detail or escape(row["description"]))
    console.print(table)
    errors = len(report.errors)
    console.print(f"[bold red]{errors} error-level violation(s)[/]" if errors
                  else "[green]all error-level rules pass[/]")
