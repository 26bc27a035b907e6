"""Availability Zone IDs per AWS region: the zones a spec may name, catalog-like data.

A zone *name* (``us-east-1a``) maps to a different physical zone in each older account; a
zone *ID* (``use1-az1``) is the same physical zone in every account, so the stacks lay out
subnets by ID (``AWS::EC2::Subnet`` ``AvailabilityZoneId``).

Checked 2026-12-02, every region: the commercial regions against the AZ ID tables (North
America, Africa, Asia Pacific, Europe, Middle East, South America) of
https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html
(its ``.md`` text); each has exactly the page's IDs but two left out on purpose: usw1-az2
(the page: newer accounts get only two zones in us-west-1) and apne1-az3 (constrained, see
the page's "Constrained Availability Zones"; EC2 has refused new subnets there). That page
has no GovCloud rows: us-gov-east-1 and us-gov-west-1 are checked against the per-region
"limited to the following Availability Zones" lists of
https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/endpoints-quotas.html
(usge1-az1..3, usgw1-az1..3). Cross-check: that page lists usw1-az1, usw1-az3 and apne1-az1,
apne1-az2, apne1-az4, and https://docs.aws.amazon.com/efs/latest/ug/OneZoneAZs.html lists
usw1-az1, usw1-az3. The order is the default choice for ``az_count`` zones:
IDs first that every account has and that carry current instance families; euw2-az4 (on
the AZ page, not on the EMR page) comes after euw2-az1..3.

Example::

    >>> default_zone_ids("us-east-1", 2)
    ('use1-az1', 'use1-az2')
"""

from __future__ import annotations

from typing import Final

SOURCE: Final = (
    "https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html")


def _n(prefix: str, *numbers: int) -> tuple[str, ...]:
    return tuple(f"{prefix}-az{n}" for n in numbers)


#: Region -> its zone IDs usable in every account, default order first. use1-az3 is last:
#: it lacks current instance families.
AWS_ZONE_IDS: Final[dict[str, tuple[str, ...]]] = {
    "us-east-1": _n("use1", 1, 2, 4, 5, 6, 3), "us-east-2": _n("use2", 1, 2, 3),
    "us-west-1": _n("usw1", 1, 3), "us-west-2": _n("usw2", 1, 2, 3, 4),
    "us-gov-east-1": _n("usge1", 1, 2, 3), "us-gov-west-1": _n("usgw1", 1, 2, 3),
    "ca-central-1": _n("cac1", 1, 2, 4), "ca-west-1": _n("caw1", 1, 2, 3),
    "mx-central-1": _n("mxc1", 1, 2, 3), "sa-east-1": _n("sae1", 1, 2, 3),
    "eu-central-1": _n("euc1", 1, 2, 3), "eu-central-2": _n("euc2", 1, 2, 3),
    "eu-west-1": _n("euw1", 1, 2, 3), "eu-west-2": _n("euw2", 1, 2, 3, 4),
    "eu-west-3": _n("euw3", 1, 2, 3), "eu-north-1": _n("eun1", 1, 2, 3),
    "eu-south-1": _n("eus1", 1, 2, 3), "eu-south-2": _n("eus2", 1, 2, 3),
    "il-central-1": _n("ilc1", 1, 2, 3), "me-central-1": _n("mec1", 1, 2, 3),
    "me-south-1": _n("mes1", 1, 2, 3), "af-south-1": _n("afs1", 1, 2, 3),
    "ap-northeast-1": _n("apne1", 1, 2, 4), "ap-northeast-2": _n("apne2", 1, 2, 3, 4),
    "ap-northeast-3": _n("apne3", 1, 2, 3), "ap-southeast-1": _n("apse1", 1, 2, 3),
    "ap-southeast-2": _n("apse2", 1, 2, 3), "ap-southeast-3": _n("apse3", 1, 2, 3),
    "ap-southeast-4": _n("apse4", 1, 2, 3), "ap-southeast-5": _n("apse5", 1, 2, 3),
    "ap-southeast-7": _n("apse7", 1, 2, 3), "ap-south-1": _n("aps1", 1, 2, 3),
    "ap-south-2": _n("aps2", 1, 2, 3), "ap-east-1": _n("ape1", 1, 2, 3),
    "ap-east-2": _n("ape2", 1, 2, 3),
}


def zone_ids(region: str) -> tuple[str, ...]:
    """Every zone ID of ``region`` known here (empty for a region the table lacks)."""
    return AWS_ZONE_IDS.get(region, ())


def default_zone_ids(region: str, count: int) -> tuple[str, ...]:
    """The first ``count`` zone IDs of ``region`` in the table's order."""
    ids = zone_ids(region)
    if count > len(ids):
        raise ValueError(f"{region}: {len(ids)} availability zone IDs are known "
                         f"({', '.join(ids) or 'none'}); {count} were asked for")
    return ids[:count]
