"""`skyrelay plan` and `skyrelay synth` carry the Azure resource graph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from skyrelay.pulumi.plan_step import PLAN_FILENAME, synth_step
from skyrelay.synth import SynthError, run_synth

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT / "examples" / "platform.yaml"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    # `python -m` from the repository root puts the root (and so pulumi/) first on sys.path:
    # the offline plan must still find the real Pulumi library.
    return subprocess.run([sys.executable, "-m", "skyrelay.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_plan_prints_the_azure_resource_tree() -> None:
    res = _cli("plan", str(DEFAULT_SPEC))
    assert res.returncode == 0, res.stderr
    # Undo rich's wrapping: drop the tree guides and rejoin the folded lines.
    out = " ".join(" ".join(line.lstrip("│├└─ ").split()) for line in res.stdout.splitlines())
    assert "Azure resources (pulumi/__main__.py under mocks, 19 resources)" in out
    for fragment in ("cognitiveservices:Account acme-openai-swc",
                     "kind AIServices", "local auth disabled",
                     "network:PrivateEndpoint acme-openai-swc-pe",
                     "privatelink.openai.azure.com", "privatelink.services.ai.azure.com",
                     "public access Enabled (default Deny, allow 203.0.113.10)",
                     "Cognitive Services OpenAI User"):
        assert fragment in out
    # Spec order is creation order.
    assert out.index("acme-openai-swc-gpt-4o ") < out.index("acme-openai-swc-gpt-4o-mini") \
        < out.index("acme-openai-swc-text-embedding-3-large")


def test_plan_json_has_the_tree_and_no_azure_run_without_azure() -> None:
    doc = json.loads(_cli("plan", "--json", str(DEFAULT_SPEC)).stdout)
    resources = doc["azure_resources"]
    assert resources["resource_count"] == 19
    (top,) = resources["tree"]
    assert (top["type"], top["name"]) == ("skyrelay:azure:OpenAIAccount", "acme-openai-swc")
    assert set(resources["outputs"]["targets"]) == {
        "azure:acme-openai-swc/gpt-4o", "azure:acme-openai-swc/gpt-4o-mini",
        "azure:acme-openai-swc/text-embedding-3-large"}
    minimal = json.loads(_cli("plan", "--json", str(ROOT / "examples" / "minimal.yaml")).stdout)
    assert minimal["azure_resources"] is None


def test_synth_step_writes_the_plan(tmp_path: Path) -> None:
    result = run_synth(DEFAULT_SPEC, tmp_path / "out", project_root=ROOT, steps=[synth_step])
    plan = json.loads((result.outdir / PLAN_FILENAME).read_text())
    assert plan["format"] == "skyrelay.azure-plan/1"
    assert sum(r["custom"] for r in plan["resources"]) == 19
    assert any("Azure resource graph: 19 resources" in n for n in result.notes)


def test_synth_step_failure_leaves_the_previous_output(tmp_path: Path, write_spec: Any) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous synth")

    def forbidden(d: dict[str, Any]) -> None:
        d["compliance"]["classifications"] = {"eu-personal": {"allowed": ["eu"]}}
        d["tenants"] = [t for t in d["tenants"] if t["name"] == "eu-support"]
        d["tenants"][0]["routes"] = ["chat-eu", "claude-sonnet"]

    forbidden_text = write_spec(forbidden).read_text()
    spec = write_spec(lambda d: None)  # the same file, valid until the first step runs

    def spec_changes_after_validation(ctx: Any) -> None:
        # Validation refuses the forbidden spec up front; only a spec that changes while
        # synth runs can still make the Azure program refuse it.
        spec.write_text(forbidden_text)

    with pytest.raises(SynthError, match="(?s)Azure program: .*gpt-4o-mini"):
        run_synth(spec, out, project_root=ROOT,
                  steps=[spec_changes_after_validation, synth_step])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "variant.yaml"]  # no staging
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
