"""The Azure OpenAI deployment list, flattened for the Pulumi program and the plan.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.azure_deployments import azure_deployments
    for d in azure_deployments(load_spec("examples/platform.yaml")):
        print(d.account, d.name, d.sku, d.capacity)
"""

from __future__ import annotations

from dataclasses import dataclass

from skyrelay import regions
from skyrelay.spec.models import Spec


@dataclass(frozen=True)
class AzureDeploymentView:
    """One deployment with its account's facts and where it may process data."""

    account: str
    location: str
    endpoint: str
    name: str
    model: str
    version: str
    sku: str
    capacity: int
    content_filter: str | None
    version_upgrade: str
    processing: str


def azure_deployments(spec: Spec) -> list[AzureDeploymentView]:
    """Every deployment of every account, in spec order (the order they are created)."""
    if not spec.azure:
        return []
    out = []
    for acct in spec.azure.accounts:
        for d in acct.deployments:
            out.append(AzureDeploymentView(
                account=acct.name, location=acct.location, endpoint=acct.endpoint, name=d.name,
                model=d.model, version=d.version, sku=d.sku, capacity=d.capacity,
                content_filter=d.content_filter, version_upgrade=d.version_upgrade,
                processing=regions.describe(
                    regions.processing_regions_for_azure(d.sku, acct.location)),
            ))
    return out
