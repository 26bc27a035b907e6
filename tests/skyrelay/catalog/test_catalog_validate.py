"""``validate`` against the model catalog: each finding with its exact message and location.

Each fixture under ``fixtures/validate`` lists what it must produce in its header:
``# expect: LINE | PATH | MESSAGE`` for an error, ``# warn: ...`` for a warning. Lifecycle
dates are judged on the catalog's own "as of" date so the expectations do not age.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from skyrelay.catalog import load_catalog
from skyrelay.spec import SpecError, SpecIssue, load_spec
from skyrelay.spec.resolve import target_index

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
AS_OF = load_catalog().as_of


def _header(path: Path, tag: str) -> set[tuple[int, str, str]]:
    out = set()
    for line in path.read_text().splitlines():
        if line.startswith(f"# {tag}: "):
            number, dotted, message = line[len(tag) + 4:].split(" | ", 2)
            out.add((int(number), dotted, message))
    return out


def _found(issues: list[SpecIssue]) -> set[tuple[int, str, str]]:
    return {(i.line or 0, i.dotted, i.message) for i in issues}


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.stem)
def test_fixture_reports_exactly_its_findings(fixture: Path) -> None:
    errors, warnings = _header(fixture, "expect"), _header(fixture, "warn")
    assert errors or warnings, f"{fixture.name} has no '# expect:' or '# warn:' header"
    found_warnings: list[SpecIssue] = []
    if errors:
        with pytest.raises(SpecError) as info:
            load_spec(fixture, warnings=found_warnings, today=AS_OF)
        assert _found(info.value.issues) == errors
        assert all(str(fixture) in str(i) for i in info.value.issues)  # file:line: path: ...
    else:
        load_spec(fixture, warnings=found_warnings, today=AS_OF)
    assert _found(found_warnings) == warnings


def test_strict_catalog_turns_unknown_into_errors() -> None:
    lax = _header(FIXTURES / "bedrock_unknown.yaml", "warn")
    strict = _header(FIXTURES / "bedrock_unknown_strict.yaml", "expect")
    assert len(lax) == len(strict) == 2
    assert all("skyrelay catalog refresh" in m for _, _, m in lax | strict)


def test_lifecycle_is_judged_on_the_given_day() -> None:
    # The same gpt-5-mini deployment: active before its deprecation date, warned after it.
    fixture = FIXTURES / "azure_offers_lifecycle.yaml"
    before: list[SpecIssue] = []
    with pytest.raises(SpecError):
        load_spec(fixture, warnings=before, today=dt.date(2026, 8, 6))
    after: list[SpecIssue] = []
    with pytest.raises(SpecError) as info:
        load_spec(fixture, warnings=after, today=dt.date(2026, 8, 7))
    deprecated = [w for w in after if "gpt-5-mini 2025-08-07 is deprecated since 2026-08-07"
                  in w.message]
    assert len(deprecated) == 2
    assert not any("gpt-5-mini 2025-08-07 is deprecated" in w.message for w in before)
    # gpt-4o 2024-11-20 retires on 2026-10-01: before that day it was only deprecated.
    early: list[SpecIssue] = []
    with pytest.raises(SpecError) as early_info:
        load_spec(fixture, warnings=early, today=dt.date(2026, 9, 30))
    assert not any("retired" in i.message for i in early_info.value.issues)
    assert any("gpt-4o 2024-11-20 is deprecated since 2025-11-20" in w.message for w in early)
    assert not any("retired" in i.message for i in info.value.issues)  # 2026-08-07: not yet
    with pytest.raises(SpecError) as late:
        load_spec(fixture, today=dt.date(2026, 10, 1))
    assert any("gpt-4o 2024-11-20 was retired on 2026-10-01" in i.message
               for i in late.value.issues)


def test_price_may_come_from_the_catalog(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    text = (FIXTURES / "bedrock_unknown.yaml").read_text()
    text = text.replace("model_id: amazon.nova-prox-v1:0\n          price: {input_per_million: 1,"
                        " output_per_million: 1}", "model_id: amazon.nova-lite-v1:0")
    spec_file.write_text(text)
    spec = load_spec(spec_file, today=AS_OF)
    target = target_index(spec)["bedrock:us-east-1/ok"]
    assert (target.price.input_per_million, target.price.output_per_million) == (0.06, 0.24)
    # An explicit price still wins over the catalog's.
    spec_file.write_text(text.replace("model_id: amazon.nova-lite-v1:0",
                                      "model_id: amazon.nova-lite-v1:0\n"
                                      "          price: {input_per_million: 0.05, "
                                      "output_per_million: 0.2}"))
    target = target_index(load_spec(spec_file, today=AS_OF))["bedrock:us-east-1/ok"]
    assert (target.price.input_per_million, target.price.output_per_million) == (0.05, 0.2)
