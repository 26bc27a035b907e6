"""`skyrelay check` on the default spec with its Azure account on the private VPN path, as a
user runs it: before the first link SKY-AWS-015 fails and says to run `skyrelay link`; with
the link folder (`--link`, as `cdk deploy -c skyrelay:link=...` uses it) every error-level
rule passes, the VPN stacks included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.vpn_platform import linked_folder, private_vpn_spec

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "skyrelay")


def _check(spec_file: Path, *extra: str) -> dict[str, Any]:
    done = subprocess.run([CLI, "check", str(spec_file), "--json", *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.stdout.strip().startswith("{"), done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _rule(report: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(r for r in report["rules"] if r["rule"] == rule)


def test_check_before_and_after_the_link(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "platform.yaml").read_text()
    old = "      public_network_access: gateway-egress-only\n"
    assert text.count(old) == 1
    spec_file = tmp_path / "platform.yaml"
    spec_file.write_text(text.replace(old, "      public_network_access: disabled\n"
                                           "      gateway_path: private-vpn\n"))
    link = linked_folder(private_vpn_spec(), tmp_path / "work")

    before = _check(spec_file)
    coverage = _rule(before, "SKY-AWS-015")
    assert not before["ok"] and coverage["result"] == "fail"
    assert len(coverage["violations"]) == 2  # both gateway regions
    assert "skyrelay link" in json.dumps(coverage["violations"])

    after = _check(spec_file, "--link", str(link))
    failed = [r["rule"] for r in after["rules"]
              if r["severity"] == "error" and r["result"] != "pass"]
    assert after["ok"] and failed == []
    for rule in ("SKY-AWS-013", "SKY-AWS-014", "SKY-AWS-015", "SKY-AZ-009", "SKY-AZ-010"):
        assert _rule(after, rule)["result"] == "pass", rule
