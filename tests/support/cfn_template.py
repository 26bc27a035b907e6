"""Helpers for reading synthesized CloudFormation templates in tests (the ``cfn`` fixture of
``tests/stacks`` and ``tests/e2e/deploy`` hands this module to the tests).

Example::

    import cfn_template as cfn
    logical_id, vpc = cfn.only(template, "AWS::EC2::VPC")
    cfn.render(vpc["Properties"]["CidrBlock"])
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from cfn_text import render

__all__ = ["as_list", "normalize", "normalize_assets", "only", "policy_statements", "render",
           "resources"]

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")
_CDK_METADATA = ("aws:cdk:path", "aws:asset:path", "aws:asset:property")


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    """The resources of one CloudFormation type, by logical id."""
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def only(template: dict[str, Any], type_: str) -> tuple[str, dict[str, Any]]:
    """The one resource of ``type_`` (fails when there are none or several)."""
    found = resources(template, type_)
    assert len(found) == 1, (type_, sorted(found))
    return next(iter(found.items()))


def as_list(value: Any) -> list[Any]:
    """A CloudFormation scalar-or-list as a list."""
    return value if isinstance(value, list) else [value]


def normalize_assets(value: Any) -> Any:
    """Replace asset hashes (64 hex digits) so snapshots change only with infrastructure."""
    if isinstance(value, dict):
        return {k: normalize_assets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize_assets(v) for v in value]
    if isinstance(value, str):
        return _ASSET_HASH.sub("<asset-hash>", value)
    return value


def normalize(value: Any) -> Any:
    """Asset hashes replaced and CDK's construct-path metadata dropped, so a snapshot
    changes only when the infrastructure does."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if k not in _CDK_METADATA}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return normalize_assets(value)


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement in a template: roles' inline policies, policies, managed
    policies, endpoint, bucket, key and topic policies; as (logical id, statement)."""
    for logical_id, res in template["Resources"].items():
        props = res.get("Properties", {})
        docs = [props[key] for key in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument")
                if key in props]
        docs += [inline["PolicyDocument"] for inline in props.get("Policies", []) or []]
        for doc in docs:
            yield from ((logical_id, statement) for statement in doc.get("Statement", []))
