"""With a concrete account, synth still needs no context lookup: the platform's stacks and a
user's stack that follows PrivateModelNetwork's docstring both name their zones."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
import yaml

from skyrelay.constructs.network import PrivateModelNetwork
from skyrelay.spec import load_spec
from skyrelay.stacks.platform import add_platform_stacks

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
MODEL = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"


def _missing_context(app: cdk.App) -> list[str]:
    assembly = app.synth()
    manifest = json.loads((Path(assembly.directory) / "manifest.json").read_text())
    return [m["key"] for m in manifest.get("missing", [])]


def test_the_platform_with_an_account_looks_nothing_up(tmp_path: Path) -> None:
    doc = yaml.safe_load((REPO / "examples" / "minimal.yaml").read_text())
    doc["aws"]["account"] = ACCOUNT
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(doc))
    app = cdk.App(outdir=str(tmp_path / "out"))
    stacks = add_platform_stacks(app, load_spec(spec_file))
    assert {s.account for s in stacks} == {ACCOUNT}
    # Zones by ID (the same physical zones in every account), from the region's defaults.
    assert stacks[0].availability_zones == ["use1-az1", "use1-az2"]
    assert _missing_context(app) == []


class ZonedStack(cdk.Stack):
    """What the PrivateModelNetwork docstring tells a user to write."""

    @property
    def availability_zones(self) -> list[str]:
        return ["us-east-1a", "us-east-1b"]


@pytest.mark.parametrize(("stack_class", "missing"), [
    (ZonedStack, []),
    # Why the docstring says it: a plain stack with an account asks for the lookup.
    (cdk.Stack, [f"availability-zones:account={ACCOUNT}:region=us-east-1"]),
])
def test_a_user_stack_with_a_concrete_env(tmp_path: Path, stack_class: type[cdk.Stack],
                                          missing: list[str]) -> None:
    app = cdk.App(outdir=str(tmp_path / "out"))
    stack = stack_class(app, "UserStack",
                        env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
    PrivateModelNetwork(stack, "Net", cidr="10.10.0.0/16",
                        availability_zones=["us-east-1a", "us-east-1b"], invoke_arns=[MODEL])
    assert _missing_context(app) == missing
