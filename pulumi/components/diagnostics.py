"""Diagnostics: send a resource's logs and metrics to Log Analytics.

Creates a Log Analytics workspace (or uses an existing one by id) and a diagnostic setting
on the target that enables the given log categories and all metrics.

Example::

    from skyrelay.pulumi.components.diagnostics import Diagnostics, DiagnosticsArgs

    Diagnostics("contoso-openai", DiagnosticsArgs(
        resource_group_name="rg-contoso",
        location="swedencentral",
        resource_uri=account.id,
        log_categories=("Audit", "RequestResponse"),
        retention_days=90,
    ))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import monitor, operationalinsights

from skyrelay.pulumi.components.args import ACCOUNT_LOG_CATEGORIES
from skyrelay.pulumi.components.validation import (
    AzureArgsError,
    check_input,
    check_location,
    one_of,
)


@dataclass(frozen=True)
class DiagnosticsArgs:
    """Arguments of :class:`Diagnostics`; ``workspace_id`` None creates a workspace.

    ``location`` may be an Output (checked once known); ``log_categories`` are those of a
    Cognitive Services account.
    """

    resource_group_name: pulumi.Input[str]
    location: pulumi.Input[str]
    resource_uri: pulumi.Input[str]
    log_categories: Sequence[str]
    retention_days: int = 90
    workspace_id: pulumi.Input[str] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.log_categories:
            raise AzureArgsError("diagnostics: name at least one log category")
        if not 30 <= self.retention_days <= 730:
            raise AzureArgsError(f"diagnostics: retention_days {self.retention_days} is outside "
                                 "Log Analytics' 30-730 days")
        for category in self.log_categories:
            one_of("diagnostics: log_categories", category, ACCOUNT_LOG_CATEGORIES)
        object.__setattr__(self, "location", check_input(
            self.location, lambda v: check_location("diagnostics", v)))


class Diagnostics(pulumi.ComponentResource):
    """A Log Analytics workspace and a diagnostic setting (see module docstring).

    Attributes: ``workspace`` (None when an existing one is used), ``workspace_id``,
    ``setting``.
    """

    workspace: operationalinsights.Workspace | None
    setting: monitor.DiagnosticSetting

    def __init__(self, name: str, args: DiagnosticsArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("skyrelay:azure:Diagnostics", name, None, opts)
        if args.workspace_id is None:
            self.workspace = operationalinsights.Workspace(
                f"{name}-logs", opts=pulumi.ResourceOptions(parent=self),
                workspace_name=f"law-{name}",
                resource_group_name=args.resource_group_name,
                location=args.location,
                sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
                retention_in_days=args.retention_days,
                # Entra ID only: no shared workspace keys for ingestion or queries.
                features=operationalinsights.WorkspaceFeaturesArgs(disable_local_auth=True),
                tags=dict(args.tags),
            )
            workspace_id: pulumi.Input[str] = self.workspace.id
        else:
            self.workspace = None
            workspace_id = args.workspace_id
        self.workspace_id = pulumi.Output.from_input(workspace_id)

        self.setting = monitor.DiagnosticSetting(
            f"{name}-diagnostics", opts=pulumi.ResourceOptions(parent=self),
            name=f"diag-{name}",
            resource_uri=args.resource_uri,
            workspace_id=workspace_id,
            logs=[monitor.DiagnosticsLogSettingsArgs(category=c, enabled=True)
                  for c in args.log_categories],
            metrics=[monitor.DiagnosticsMetricSettingsArgs(category="AllMetrics", enabled=True)],
        )
        self.register_outputs({"workspaceId": self.workspace_id, "settingId": self.setting.id})
