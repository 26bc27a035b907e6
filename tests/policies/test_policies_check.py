"""``skyrelay check``: the default spec passes; residency breaches and broken templates fail."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from skyrelay.cli import main
from skyrelay.policies.gateway_rules import check_gateway_config
from skyrelay.spec import load_spec
from skyrelay.views.gateway_config import gateway_config

DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "examples" / "platform.yaml"


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_default_spec_passes_every_rule(synth_dir: Path) -> None:
    result = _run("check", str(DEFAULT_SPEC), "--from", str(synth_dir), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["ok"] is True
    results = {r["rule"]: r["result"] for r in doc["rules"]}
    assert "not run" not in results.values() and "fail" not in results.values()
    assert all(r == "pass" for rid, r in results.items() if not rid.startswith("SKY-GW-002"))


def test_table_output_names_every_rule(synth_dir: Path) -> None:
    result = _run("check", str(DEFAULT_SPEC), "--from", str(synth_dir))
    assert result.exit_code == 0
    for rid in ("SKY-AWS-001", "SKY-AZ-003", "SKY-GW-001"):
        assert rid in result.output


def test_broken_template_fails_check_naming_rule_and_resource(synth_dir: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "cdk.out"
    shutil.copytree(synth_dir, out)
    path = next(out.glob("*-us-east-1-bedrock.template.json"))
    template = json.loads(path.read_text())
    bucket = next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket")
    template["Resources"][bucket]["DeletionPolicy"] = "Delete"
    path.write_text(json.dumps(template))
    result = _run("check", str(DEFAULT_SPEC), "--from", str(out), "--json")
    assert result.exit_code == 1
    row = next(r for r in json.loads(result.output)["rules"] if r["rule"] == "SKY-AWS-004")
    assert row["result"] == "fail"
    assert [v["resource"] for v in row["violations"]] == [f"acme-ai-us-east-1-bedrock/{bucket}"]


def _eu_data_on(tmp_path: Path, target: dict[str, Any]) -> Path:
    doc = yaml.safe_load(DEFAULT_SPEC.read_text())
    doc["routes"].append({"name": "offshore", "strategy": "priority", "targets": [target]})
    for tenant in doc["tenants"]:
        if tenant["name"] == "eu-support":
            tenant["routes"] = ["offshore"]
    path = tmp_path / "eu-offshore.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


OFFSHORE = {
    "us": {"cloud": "bedrock", "region": "us-east-1", "model": "nova-pro"},
    "global": {"cloud": "azure", "account": "acme-openai-swc", "deployment": "gpt-4o-mini"},
}


@pytest.mark.parametrize("where", sorted(OFFSHORE))
def test_eu_only_data_on_us_or_global_target_fails_validate_and_check(
        where: str, tmp_path: Path, synth_dir: Path) -> None:
    spec = _eu_data_on(tmp_path, OFFSHORE[where])
    validate = _run("validate", str(spec))
    assert validate.exit_code == 2 and "eu-support" in validate.output
    check = _run("check", str(spec), "--from", str(synth_dir))
    assert check.exit_code != 0 and "eu-support" in check.output and "offshore" in check.output


def test_gateway_rule_names_tenant_and_route() -> None:
    cfg = gateway_config(load_spec(DEFAULT_SPEC))
    assert [v.rule for v in check_gateway_config(cfg) if v.rule == "SKY-GW-001"] == []
    cfg["routes"]["chat-eu"]["targets"] = [{"key": "bedrock:us-east-1/claude-sonnet", "weight": 1}]
    found = [v for v in check_gateway_config(cfg) if v.rule == "SKY-GW-001"]
    assert [v.resource for v in found] == ["tenant eu-support / route chat-eu"]
    assert "eu-personal" in found[0].message
