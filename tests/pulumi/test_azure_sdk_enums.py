"""The enum values the components and the spec accept are pulumi-azure-native's own.

The installed SDK is the oracle (DESIGN: truth at deploy time): a value we accept that its
enums do not list would be refused by Azure at ``pulumi up``.
"""

from __future__ import annotations

import typing

from pulumi_azure_native import authorization, cognitiveservices

from skyrelay.pulumi.components import args
from skyrelay.pulumi.components.content_filter import ContentFilterPolicy
from skyrelay.pulumi.rai_defaults import DETECTIONS, SEVERITY_LEVELS, SOURCES
from skyrelay.spec.models import AzureDeployment, ContentFilter


def _values(enum: type) -> set[str]:
    return {str(m.value) for m in enum}  # type: ignore[attr-defined]


def _literal(model: type, field: str) -> set[str]:
    return set(typing.get_args(model.model_fields[field].annotation))  # type: ignore[attr-defined]


def test_version_upgrade_options() -> None:
    sdk = _values(cognitiveservices.DeploymentModelVersionUpgradeOption)
    assert set(args.VERSION_UPGRADE_OPTIONS) == sdk == _literal(AzureDeployment,
                                                                "version_upgrade")
    assert args.ModelDeployment(name="d", model="m", version="1", sku="Standard",
                                capacity=1).version_upgrade == "OnceCurrentVersionExpired"


def test_content_filter_levels_and_sources() -> None:
    assert set(SEVERITY_LEVELS) == _values(cognitiveservices.ContentLevel) \
        == _literal(ContentFilter, "severity_threshold")
    sources = _values(cognitiveservices.RaiPolicyContentSource)
    assert set(SOURCES.values()) | set(DETECTIONS.values()) <= sources
    # Every filter the components write uses SDK values for its source and threshold.
    for f in ContentFilterPolicy(name="x").filters():
        assert f["source"] in sources
        assert f.get("severity_threshold", "Low") in SEVERITY_LEVELS


def test_principal_types_are_the_sdks() -> None:
    assert set(args.PRINCIPAL_TYPES) <= _values(authorization.PrincipalType)
