"""Small mappings from spec values to CDK values that every skyrelay stack shares."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

from skyrelay.spec import Spec

_RETENTION_NAMES = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
    2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}



def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch retention enum member for a number of days the spec allows."""
    try:
        return getattr(logs.RetentionDays, _RETENTION_NAMES[days])  # type: ignore[no-any-return]
    except KeyError:
        raise ValueError(f"{days} days is not a CloudWatch Logs retention period") from None


class RegionStack(cdk.Stack):
    """A platform stack in one AWS region of the spec, with that region's zones written out.

    A stack with a concrete account looks its availability zones up (context key
    ``availability-zones:account=…:region=…``), and a VPC given explicit zones checks them
    against that list, so synth would need credentials. This stack answers with the spec's
    zone IDs instead (``use1-az1`` ..., the same physical zones in every account; the VPC
    puts them on its subnets as ``AvailabilityZoneId``): synth stays offline with or without
    ``aws.account`` and no zone name is written into a template.

    Example::

        stack = RegionStack(app, "acme-us-east-1-x", spec=spec, region="us-east-1",
                            env=cdk.Environment(account="123456789012", region="us-east-1"))
        stack.availability_zones  # ['use1-az1', 'use1-az2'] for az_count 2
    """

    def __init__(self, scope: Construct, id: str, *, spec: Spec, region: str,
                 **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        assert spec.aws is not None and region in spec.aws.regions
        self._zones = list(spec.aws.regions[region].zones(region))

    @property
    def availability_zones(self) -> list[str]:
        """The spec's zone IDs of this stack's region (no lookup)."""
        return list(self._zones)
