"""The default spec with its Azure account on ``gateway_path: private-vpn``, and the link
folder ``skyrelay link`` writes for it from the recorded outputs in
tests/skyrelay/fixtures/vpn_platform (what Pulumi and CDK report after their deploys).

The spec is built with pydantic only: ``load_spec`` still refuses private-vpn until the
whole path is merged (skyrelay/spec/vpn_checks.py).

Example::

    spec = private_vpn_spec()
    link_dir = linked_folder(spec, tmp_path)   # gateway configs + <name>-vpn-link.json
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "skyrelay" / "fixtures" / "vpn_platform"
ACCOUNT = "acme-openai-swc"


def private_vpn_spec(**account: Any) -> Any:
    """The default spec, its account private-vpn (public access off), plus ``account`` keys."""
    from skyrelay.spec import load_spec
    from skyrelay.spec.models import Spec

    data = load_spec(ROOT / "examples" / "platform.yaml").model_dump(exclude_unset=True)
    data["azure"]["accounts"][0].update(gateway_path="private-vpn",
                                        public_network_access="disabled", **account)
    return Spec.model_validate(data)


def fixture(name: str) -> Any:
    """A recorded output file of the fixtures folder, parsed."""
    return json.loads((FIXTURES / name).read_text())


def linked_folder(spec: Any, work: Path) -> Path:
    """Run link steps 1-2 on the recorded outputs into ``work/link``; return that folder."""
    from skyrelay.link import LinkInputs, apply_link, plan_link

    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "Pulumi.prod.yaml", work / "Pulumi.prod.yaml")
    plan = plan_link(spec, LinkInputs(fixture("cdk-outputs.json"), fixture("pulumi-outputs.json"),
                                      work / "Pulumi.prod.yaml"), work / "link")
    apply_link(plan)
    return work / "link"
