"""Small mappings from spec values to CDK values that every skyrelay stack shares."""

from __future__ import annotations

from aws_cdk import aws_logs as logs

from skyrelay.regions import availability_zone_letters

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


def availability_zones(region: str, count: int) -> list[str]:
    """``count`` zone names of ``region``, written out so synth needs no lookup.

    Zone letters map to physical zones per account; the letters used are the ones every
    account has in the region where known (``skyrelay.regions.AWS_AZ_LETTERS``), else "a",
    "b", ... Regions whose zone letters differ between accounts (us-west-1) may need an
    override.
    """
    letters = availability_zone_letters(region)
    if count > len(letters):
        raise ValueError(f"{region}: at most {len(letters)} availability zones are known")
    return [f"{region}{letter}" for letter in letters[:count]]
