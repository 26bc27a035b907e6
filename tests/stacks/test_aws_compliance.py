"""cdk-nag (AWS Solutions + NIST 800-53 rev 5) and cfn-lint on the default spec's app."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("pack_name", ["AwsSolutionsChecks", "NIST80053R5Checks"])
def test_no_unacknowledged_findings(platform: Any, pack_name: str) -> None:
    import cdk_nag

    report = getattr(cdk_nag, pack_name)(platform.app).validate_scope(platform.app)
    found = [(v.rule_name, [c.construct_path for c in v.violating_constructs])
             for v in report.violations]
    assert found == []


def test_the_packs_do_find_problems(platform: Any) -> None:
    # The check above means something only if the packs flag a careless resource.
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App()
    stack = cdk.Stack(app, "Careless")
    s3.Bucket(stack, "Plain")
    rules = {v.rule_name for v in AwsSolutionsChecks(app).validate_scope(app).violations}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_the_app_registers_the_packs() -> None:
    import aws_cdk as cdk

    from skyrelay.cdk_app import add_compliance_checks

    names = {type(p).__name__ for p in add_compliance_checks(cdk.App())}
    assert names == {"AwsSolutionsChecks", "NIST80053R5Checks", "SkyrelayChecks"}


def _acknowledgments(app: Any) -> list[tuple[str, str, str]]:
    import aws_cdk as cdk

    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    out = []
    for node in app.node.find_all():
        for entry in node.node.metadata:
            if entry.type == key:  # data: {rule id: reason}
                out += [(node.node.path, rule.removeprefix("Annotation::"), reason)
                        for rule, reason in entry.data.items()]
    return out


def test_every_acknowledgment_gives_a_reason(platform: Any) -> None:
    # Ours are the cdk-nag ones; CDK acknowledges a few of its own template checks too.
    acks = [a for a in _acknowledgments(platform.app)
            if a[1].startswith(("AwsSolutions-", "NIST.800.53.R5-"))]
    assert len(acks) > 20
    for path, rule, reason in acks:
        assert rule and len(reason.split()) >= 12, (path, rule, reason)


@pytest.mark.skipif(shutil.which("cfn-lint") is None and not (Path(sys.executable).parent
                                                           / "cfn-lint").exists(),
                    reason="cfn-lint is a dev dependency")
def test_cfn_lint_passes_on_every_template(platform: Any) -> None:
    # The project's .cfnlintrc.yaml turns off one rule (W3005), with its reason; W3010
    # (hard-coded availability zones) is on: subnets name their zones by ID.
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    templates = sorted(str(p) for p in platform.outdir.glob("*.template.json"))
    assert len(templates) == 9  # 7 AWS-side stacks + the 2 gateway stacks (tests/e2e/deploy)
    proc = subprocess.run([cfn_lint, *templates], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cfn_lint_config_gives_a_reason_for_each_ignored_rule() -> None:
    import yaml

    text = (REPO / ".cfnlintrc.yaml").read_text()
    ignored = yaml.safe_load(text)["ignore_checks"]
    assert "W3010" not in ignored  # no zone name is hard-coded any more
    lines = text.splitlines()
    for rule in ignored:
        index = lines.index(f"  - {rule}")
        assert lines[index - 1].lstrip().startswith("#"), rule
