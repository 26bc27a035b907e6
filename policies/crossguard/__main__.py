"""Serve the skyrelay CrossGuard pack (the Pulumi CLI runs this file; importing it serves too)."""

from pulumi_policy import EnforcementLevel, PolicyPack

from skyrelay.policies.crossguard.validations import build_policies, load_allowed

PolicyPack(
    name="skyrelay-azure",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(load_allowed()),
)
