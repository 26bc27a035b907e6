"""Optional parts of skyrelay and the pip extras that bring them.

The core (spec, ``validate``, ``plan`` of an AWS-only spec, ``gateway config``, ``link``) needs
no extra. The AWS side needs ``skyrelay[aws]`` (CDK, cdk-nag), the Azure side
``skyrelay[azure]`` (Pulumi), the gateway service ``skyrelay[gateway]``. A command whose extra
is missing stops with one line naming it, never a ``ModuleNotFoundError`` traceback.

Example::

    from skyrelay.extras import MissingExtra, require
    try:
        require("azure", "skyrelay plan")
    except MissingExtra as exc:
        print(exc)   # skyrelay plan needs the 'azure' extra ... pip install 'skyrelay[azure]'
"""

from __future__ import annotations

from importlib import metadata

#: The distributions each extra brings that the code imports (pyproject.toml's lists).
EXTRA_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "aws": ("aws-cdk-lib", "constructs", "cdk-nag"),
    "azure": ("pulumi", "pulumi-azure-native", "pulumi-policy"),
    "gateway": ("uvicorn", "orjson", "hiredis", "prometheus-client", "httptools", "aiohttp",
                "azure-identity", "botocore"),
}

#: Top-level import name -> the extra that installs it.
MODULE_EXTRA: dict[str, str] = {
    "aws_cdk": "aws", "constructs": "aws", "cdk_nag": "aws", "jsii": "aws",
    "pulumi": "azure", "pulumi_azure_native": "azure", "pulumi_policy": "azure",
    "uvicorn": "gateway", "orjson": "gateway", "hiredis": "gateway",
    "httptools": "gateway",
    "prometheus_client": "gateway", "aiohttp": "gateway", "azure": "gateway",
    "botocore": "gateway",
}


class MissingExtra(Exception):
    """A feature needs an extra that is not installed; ``str()`` is the one-line message."""

    def __init__(self, feature: str, extra: str, missing: str) -> None:
        self.feature, self.extra, self.missing = feature, extra, missing
        super().__init__(f"{feature} needs the '{extra}' extra ({missing} is not installed): "
                         f"pip install 'skyrelay[{extra}]'")


def _installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtra` unless every distribution of ``extra`` is installed.

    Checked by distribution, not by import, so a folder named like a library on ``sys.path``
    (this repository's ``pulumi/`` and ``constructs/``) cannot fake an installed one.
    """
    for distribution in EXTRA_DISTRIBUTIONS[extra]:
        if not _installed(distribution):
            raise MissingExtra(feature, extra, distribution)


def from_import_error(exc: ModuleNotFoundError, feature: str) -> MissingExtra | None:
    """The :class:`MissingExtra` behind ``exc``, or None when no extra provides the module."""
    top = (exc.name or "").split(".", 1)[0]
    extra = MODULE_EXTRA.get(top)
    return MissingExtra(feature, extra, exc.name or top) if extra else None
