"""The default spec with ``gateway.tracing.exporter: adot-xray``: the gateway stacks with the
ADOT collector sidecar (and the network stacks with their X-Ray endpoint) pass cdk-nag's
AWS Solutions and NIST 800-53 packs, the project's own pack and cfn-lint."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import aws_cdk as cdk

    from skyrelay.cdk_app import compose_app
    from skyrelay.spec import Spec, load_spec

    doc = load_spec(REPO / "examples" / "platform.yaml").model_dump(mode="json",
                                                                    exclude_none=True)
    doc["gateway"]["tracing"] = {"exporter": "adot-xray"}
    spec = Spec.model_validate(doc)
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir))
    compose_app(spec, app, checks=False)
    app.synth()
    yield {"app": app, "outdir": outdir}


def test_the_sidecar_and_the_xray_endpoint_are_in_the_templates(traced: dict[str, Any]) -> None:
    # not vacuous: the checks below see the collector and the endpoint
    containers, endpoints = [], []
    for path in traced["outdir"].glob("*.template.json"):
        for res in json.loads(path.read_text())["Resources"].values():
            if res["Type"] == "AWS::ECS::TaskDefinition":
                containers += [c["Name"] for c in res["Properties"]["ContainerDefinitions"]]
            if res["Type"] == "AWS::EC2::VPCEndpoint":
                endpoints.append(json.dumps(res["Properties"]["ServiceName"]))
    assert containers.count("adot-collector") == 2  # one per gateway region
    assert sum(".xray" in e for e in endpoints) == 2


@pytest.mark.parametrize("pack_name", ["AwsSolutionsChecks", "NIST80053R5Checks"])
def test_cdk_nag_finds_nothing_unacknowledged(traced: dict[str, Any], pack_name: str) -> None:
    import cdk_nag

    app = traced["app"]
    report = getattr(cdk_nag, pack_name)(app).validate_scope(app)
    assert [(v.rule_name, [c.construct_path for c in v.violating_constructs])
            for v in report.violations] == []


def test_the_skyrelay_pack_finds_nothing(traced: dict[str, Any]) -> None:
    from skyrelay.policies.nag_pack import SkyrelayChecks

    app = traced["app"]
    report = SkyrelayChecks(app).validate_scope(app)
    assert [v.rule_name for v in report.violations] == []


def test_cfn_lint_passes(traced: dict[str, Any]) -> None:
    templates = sorted(str(p) for p in traced["outdir"].glob("*.template.json"))
    proc = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), *templates],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
