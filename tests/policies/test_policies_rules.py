"""The rule registry: ids, severities and the rules the issue asks for."""

from skyrelay.policies.rules import RULES


def test_every_rule_is_well_formed() -> None:
    for rid, rule in RULES.items():
        assert rid == rule.id and rid.startswith("SKY-")
        assert rule.severity in ("error", "warning")
        assert rule.description and "\n" not in rule.description
        assert set(rule.clouds) <= {"aws", "azure", "gateway"}


def test_registry_covers_both_clouds_and_the_gateway() -> None:
    clouds = {c for r in RULES.values() for c in r.clouds}
    assert clouds == {"aws", "azure", "gateway"}
    assert len([r for r in RULES if r.startswith("SKY-AWS")]) >= 6
    assert len([r for r in RULES if r.startswith("SKY-AZ")]) >= 6
