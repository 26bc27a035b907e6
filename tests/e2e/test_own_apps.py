"""README's "Using the constructs and components without a spec": both examples run as
printed there, the CDK one synthesized by the CDK, the Pulumi one under Pulumi's mocks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest
from pulumi_mocks import recording_pulumi_mocks

from skyrelay.pulumi.offline import RecordingMonitor
from skyrelay.pulumi.type_tokens import ACCOUNT, DEPLOYMENT, ROLE_ASSIGNMENT

REPO = Path(__file__).resolve().parents[2]


def readme_examples() -> list[str]:
    """The python code blocks of the README section, in order."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Using the constructs and components without a spec", 1)[1]
    section = section.split("\n### ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_cdk_example_synthesizes(tmp_path: Path) -> None:
    cdk_example = readme_examples()[0]
    assert "PrivateModelNetwork" in cdk_example
    proc = subprocess.run([sys.executable, "-P", "-c", cdk_example], cwd=tmp_path,
                          env={"CDK_OUTDIR": str(tmp_path / "out"), "PATH": "/usr/bin:/bin",
                               "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
                               "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    template = json.loads((tmp_path / "out" / "Models.template.json").read_text())
    types = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::EC2::VPC", "AWS::EC2::VPCEndpoint", "AWS::IAM::ManagedPolicy"} <= types


@pytest.fixture
def monitor() -> Iterator[RecordingMonitor]:
    with recording_pulumi_mocks("own", "dev") as recorder:
        yield recorder


def test_the_pulumi_example_registers_the_account(monitor: RecordingMonitor) -> None:
    pulumi_example = readme_examples()[1]
    assert "OpenAIAccount(" in pulumi_example
    seen: dict[str, str] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[str]:
        namespace: dict[str, object] = {}
        exec(pulumi_example.replace("pulumi.export(", "(lambda *a: None)("), namespace)
        endpoint: pulumi.Output[str] = namespace["account"].endpoint  # type: ignore[attr-defined]
        return endpoint.apply(lambda value: seen.setdefault("endpoint", value))

    program()
    assert seen["endpoint"] == "https://team-openai-eus2.openai.azure.com/"
    types = [r["type"] for r in monitor.records.values()]
    assert types.count(ACCOUNT) == 1 and types.count(DEPLOYMENT) == 1
    assert ROLE_ASSIGNMENT in types
