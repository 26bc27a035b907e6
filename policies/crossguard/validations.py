"""CrossGuard policies built from :mod:`skyrelay.policies.azure_graph` (no pack started here).

The spec-driven rules (declared models/SKUs, allowed locations) read the spec named by the
``SKYRELAY_SPEC`` environment variable, else the project's default spec (``cdk.json``).

Example::

    from skyrelay.policies.crossguard.validations import build_policies
    policies = build_policies(allowed=None)  # the structural rules only
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from skyrelay.policies import azure_graph
from skyrelay.policies.rules import RULES, Violation

ResourceCheck = Callable[[str, dict[str, Any], str], list[Violation]]
StackCheck = Callable[[list[azure_graph.Entry]], list[Violation]]


def _level(rule_id: str) -> EnforcementLevel:
    return (EnforcementLevel.MANDATORY if RULES[rule_id].severity == "error"
            else EnforcementLevel.ADVISORY)


def resource_validator(check: ResourceCheck) -> Callable[[ResourceValidationArgs,
                                                         ReportViolation], None]:
    """Wrap a per-resource check as a CrossGuard ``validate`` callback."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for v in check(args.resource_type, dict(args.props or {}), args.name):
            report_violation(str(v), None)

    return validate


def stack_validator(check: StackCheck) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """Wrap a whole-graph check as a CrossGuard stack ``validate`` callback."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        entries = [(r.resource_type, dict(r.props or {}), r.name) for r in args.resources]
        for v in check(entries):
            report_violation(str(v), None)

    return validate


def _resource_policy(rule_id: str, check: ResourceCheck) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(rule_id.lower(), RULES[rule_id].description,
                                    resource_validator(check), enforcement_level=_level(rule_id))


class PolicySpecError(Exception):
    """The pack cannot find its platform spec; the spec-driven rules would be skipped."""


SPEC_ENV = "SKYRELAY_SPEC"


def spec_for_pack(environ: Mapping[str, str] | None = None, start: Path | None = None) -> Path:
    """The spec the pack checks against: ``$SKYRELAY_SPEC``, else the one named in the nearest
    cdk.json at or above ``start`` (the working directory). Raises :class:`PolicySpecError`
    rather than running without the spec-driven rules (SKY-AZ-005, 006, 009, 010)."""
    from skyrelay.project import ProjectError, default_spec

    named = (os.environ if environ is None else environ).get(SPEC_ENV)
    if named:
        path = Path(named).expanduser().resolve()
        if not path.is_file():
            raise PolicySpecError(f"{SPEC_ENV}={named}: no such file")
        return path
    try:
        return default_spec(start)
    except ProjectError as exc:
        raise PolicySpecError(
            f"the skyrelay policy pack needs the platform spec for SKY-AZ-005/006: set "
            f"{SPEC_ENV}=path/to/platform.yaml ({exc})") from None


def load_allowed(environ: Mapping[str, str] | None = None,
                 start: Path | None = None) -> azure_graph.AzureAllowed:
    """The spec data for the spec-driven rules (see :func:`spec_for_pack`)."""
    from skyrelay.policies.check import azure_allowed
    from skyrelay.spec import load_spec

    return azure_allowed(load_spec(spec_for_pack(environ, start)))


def build_policies(allowed: azure_graph.AzureAllowed | None) -> list[Policy]:
    """Every Azure rule as a CrossGuard policy (spec-driven ones only with ``allowed``)."""
    policies: list[Policy] = [
        _resource_policy("SKY-AZ-001", azure_graph.check_local_auth),
        _resource_policy("SKY-AZ-002", azure_graph.check_public_access),
        _resource_policy("SKY-AZ-007", azure_graph.check_content_filter),
        _resource_policy("SKY-AZ-008", azure_graph.check_account_kind),
        StackValidationPolicy("sky-az-003", RULES["SKY-AZ-003"].description,
                              stack_validator(azure_graph.check_private_endpoints),
                              enforcement_level=_level("SKY-AZ-003")),
        StackValidationPolicy("sky-az-004", RULES["SKY-AZ-004"].description,
                              stack_validator(azure_graph.check_diagnostics),
                              enforcement_level=_level("SKY-AZ-004")),
    ]
    if allowed is not None:
        policies += [_resource_policy("SKY-AZ-005", azure_graph.check_model_sku(allowed)),
                     _resource_policy("SKY-AZ-006", azure_graph.check_location(allowed)),
                     _resource_policy("SKY-AZ-009",
                                      azure_graph.check_private_vpn_access(allowed)),
                     StackValidationPolicy("sky-az-010", RULES["SKY-AZ-010"].description,
                                           stack_validator(azure_graph.check_vpn_gateways(
                                               allowed)),
                                           enforcement_level=_level("SKY-AZ-010"))]
    return policies
