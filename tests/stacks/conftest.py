"""Shared fixtures for the AWS tests: the default spec's app, synthesized once per session.

jsii start-up and synthesis cost seconds, so every assertion and snapshot reads the one
cloud assembly built here; the compliance packs are run on the same construct tree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cfn_template
import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = REPO / "examples" / "platform.yaml"
MINIMAL_SPEC = REPO / "examples" / "minimal.yaml"

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20,22")


@dataclass
class Platform:
    """The synthesized default platform: the app, its stacks and their templates."""

    app: Any
    spec: Any
    outdir: Path
    templates: dict[str, dict[str, Any]]

    def template(self, suffix: str, region: str) -> dict[str, Any]:
        """The template of stack ``<name>-<region>-<suffix>``."""
        return self.templates[f"{self.spec.name}-{region}-{suffix}"]


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """Compose and synthesize the default spec's app once (no compliance plugins: the
    checks run on the tree directly in test_aws_compliance.py)."""
    import aws_cdk as cdk

    from skyrelay.cdk_app import compose_app
    from skyrelay.spec import load_spec

    spec = load_spec(DEFAULT_SPEC)
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir))
    compose_app(spec, app, checks=False)
    app.synth()
    templates = {p.name.removesuffix(".template.json"): json.loads(p.read_text())
                 for p in outdir.glob("*.template.json")}
    yield Platform(app, spec, outdir, templates)


@pytest.fixture(scope="session")
def cfn() -> Any:
    """The template helpers (``cfn.resources``, ``cfn.render`` ...) for test modules."""
    return cfn_template
