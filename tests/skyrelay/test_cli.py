"""The skyrelay CLI as a user runs it: exit codes, messages, JSON and HTML output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BAD = Path(__file__).parent / "spec" / "fixtures" / "bad"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skyrelay.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_validate_default_spec_from_cdk_json() -> None:
    res = run("validate")
    assert res.returncode == 0, res.stderr
    assert "examples/platform.yaml" in res.stdout


def test_validate_missing_deployment_names_file_line_and_path() -> None:
    res = run("validate", str(BAD / "missing_deployment.yaml"))
    assert res.returncode == 2
    assert f"{BAD / 'missing_deployment.yaml'}:16: routes[0].targets[0]:" in res.stderr
    assert "no deployment named 'gpt-5'" in res.stderr
    assert "Traceback" not in res.stderr


def test_validate_json_lists_errors() -> None:
    res = run("validate", "--json", str(BAD / "duplicates_and_refs.yaml"))
    assert res.returncode == 2
    doc = json.loads(res.stdout)
    assert doc["valid"] is False
    assert {e["path"] for e in doc["errors"]} == {
        "aws.regions.us-east-1.bedrock_models[1].name", "routes[1].name",
        "tenants[0].routes[1]", "tenants[0].classification"}


def test_plan_json_is_machine_readable() -> None:
    res = run("plan", "--json", "--requests-per-month", "1000")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["cost"]["traffic"]["requests_per_month_per_route"] == 1000
    assert {r["name"] for r in doc["routes"]} >= {"gpt-4o", "chat-eu"}


def test_plan_for_people_and_html(tmp_path: Path) -> None:
    import re

    page = tmp_path / "out" / "plan.html"
    res = run("plan", "examples/minimal.yaml", "--html", str(page))
    assert res.returncode == 0, res.stderr
    assert "bedrock:us-east-1/nova-lite" in res.stdout
    assert f"wrote {page}" in res.stdout
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "nova-lite" in html
    # One self-contained file: no script, stylesheet, image or font from anywhere; the only
    # URLs are the SVG namespace names (identifiers, never fetched).
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert set(re.findall(r"https?://[^\s\"'<>)]+", html)) <= {
        "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert html.count("<svg") == 2  # the topology and the cost chart, inline
    assert not list(page.parent.glob(".*.tmp"))


def test_html_escapes_values(tmp_path: Path) -> None:
    from skyrelay.plan_page import plan_figures
    from skyrelay.render_html import render_plan_html
    from skyrelay.spec import load_spec
    from skyrelay.views.plan import build_plan

    spec = load_spec(ROOT / "examples" / "minimal.yaml")
    plan = build_plan(spec)
    figures = plan_figures(spec, plan)
    plan["name"] = "<script>alert(1)</script>"
    assert "<script>alert" not in render_plan_html(plan, figures)


def test_plan_svg_writes_the_diagram_alone(tmp_path: Path) -> None:
    import os
    import xml.etree.ElementTree as ET

    svg = tmp_path / "topology.svg"
    res = run("plan", "examples/platform.yaml", "--svg", str(svg))
    assert res.returncode == 0, res.stderr
    assert f"wrote {svg}" in res.stdout
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    graph = root.find("{http://www.w3.org/2000/svg}g")
    assert graph is not None and graph.get("id") == "topology"
    assert "acme-openai-swc (swedencentral)" in "".join(root.itertext())
    umask = os.umask(0o022)
    os.umask(umask)
    assert svg.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it


def test_plan_without_graphviz_says_how_to_get_it_and_writes_nothing(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "PATH": str(tmp_path / "empty")}
    page, svg = tmp_path / "plan.html", tmp_path / "topology.svg"
    res = subprocess.run([sys.executable, "-m", "skyrelay.cli", "plan", "examples/minimal.yaml",
                          "--html", str(page), "--svg", str(svg)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "error: skyrelay plan: the topology diagram needs Graphviz's `dot` program" in \
        " ".join(res.stderr.split())
    assert "apt-get install graphviz" in res.stderr and "Traceback" not in res.stderr
    assert not page.exists() and not svg.exists()


def test_gateway_config_command() -> None:
    res = run("gateway", "config")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["routes"]["gpt-4o"]["strategy"] == "priority"


def test_no_spec_and_no_cdk_json(tmp_path: Path) -> None:
    res = run("validate", cwd=tmp_path)
    assert res.returncode == 2
    assert "no cdk.json" in res.stderr


def test_plan_shows_per_region_reach_and_flags_plain_http_and_cross_region(
        tmp_path: Path) -> None:
    # Issue 20: per gateway region, which targets each route reaches and over which path;
    # the plain-HTTP opt-out and cross-region traffic are called out.
    import yaml

    res = run("plan", "examples/platform.yaml", "--html", str(tmp_path / "default.html"))
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert "Gateway eu-central-1: HTTPS on 443 (private-ca, " \
           "gateway.eu-central-1.acme-ai.internal)" in out
    eu = res.stdout.split("Gateway eu-central-1")[1]
    rows = [" ".join(line.replace("│", " ").split()) for line in eu.splitlines()]
    # Own-region Bedrock through the endpoint; the us-east-1 model listed as unreachable.
    assert any(r.startswith("claude-sonnet bedrock:eu-central-1/claude-sonnet vpc-endpoint "
                            "bedrock:us-east-1/claude-sonnet: a Bedrock target") for r in rows)
    assert "warning:" not in out and "note:" not in out
    doc = yaml.safe_load((ROOT / "examples" / "platform.yaml").read_text())
    doc["gateway"]["tls"] = {"certificate": "plain-http",
                             "plain_http_reason": "TLS ends at the mesh sidecar"}
    doc["gateway"]["cross_region_bedrock"] = {"eu-central-1": ["us-east-1"]}
    spec = tmp_path / "plain.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    page = tmp_path / "plain.html"
    res = run("plan", str(spec), "--html", str(page))
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert "Gateway eu-central-1: HTTP on 80 (plain-http)" in out
    assert "warning: gateway eu-central-1: plain HTTP: tenant keys and prompts cross the VPC " \
           "in clear text (opt-out: TLS ends at the mesh sidecar)" in out
    assert "note: gateway eu-central-1: cross-region Bedrock traffic (to us-east-1) leaves " \
           "the VPC through the NAT gateways" in out
    html = page.read_text()
    assert 'class="warn">plain HTTP' in html and "(leaves the VPC)" in html
