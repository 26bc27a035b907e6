"""Shared fixtures for the AWS tests: the default spec's app, synthesized once per session.

jsii start-up and synthesis cost seconds, so every assertion and snapshot reads the one
cloud assembly built here; the compliance packs are run on the same construct tree.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfn_text import render  # noqa: F401 - the cfn fixture hands it to the tests

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


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    """The resources of one CloudFormation type, by logical id."""
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalize_assets(value: Any) -> Any:
    """Replace asset hashes (64 hex digits) so snapshots change only with infrastructure."""
    if isinstance(value, dict):
        return {k: normalize_assets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize_assets(v) for v in value]
    if isinstance(value, str):
        return _ASSET_HASH.sub("<asset-hash>", value)
    return value


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement in a template: roles' inline policies, policies, managed
    policies, endpoint, bucket, key and topic policies; as (logical id, statement)."""
    for logical_id, res in template["Resources"].items():
        props = res.get("Properties", {})
        docs = []
        for key in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument"):
            if key in props:
                docs.append(props[key])
        for inline in props.get("Policies", []) or []:
            docs.append(inline["PolicyDocument"])
        for doc in docs:
            for statement in doc.get("Statement", []):
                yield logical_id, statement


def as_list(value: Any) -> list[Any]:
    """A CloudFormation scalar-or-list as a list."""
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="session")
def cfn() -> Any:
    """The template helpers above (``cfn.resources``, ``cfn.render`` ...) for test modules."""
    import sys

    return sys.modules[__name__]
