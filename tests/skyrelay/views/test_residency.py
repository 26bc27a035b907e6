"""The residency matrix (issue 26): the gateway's access policy, asked for every tenant and
route target, agrees with the spec's rules and names the rule that decides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay import regions
from skyrelay.spec import Spec
from skyrelay.spec.loader import parse_spec_text
from skyrelay.spec.resolve import target_index
from skyrelay.views.residency import ALLOWED, NOT_ROUTED, REFUSED, residency_matrix

ROOT = Path(__file__).resolve().parents[3]


def test_cells_name_the_rule_that_decides(default_spec: Spec) -> None:
    m = residency_matrix(default_spec)
    refused = m.cell("eu-support", "bedrock:us-east-1/claude-sonnet")
    assert (refused.state, refused.routes) == (REFUSED, ("claude-sonnet",))
    assert refused.rule == ("classification 'eu-personal' allows processing only in eu; the "
                            "target may process in us (3 regions)")
    anywhere = m.cell("web-app", "azure:acme-openai-swc/gpt-4o-mini")
    assert anywhere.state == REFUSED and "may process in any region" in anywhere.rule
    ok = m.cell("eu-support", "bedrock:eu-central-1/claude-sonnet")
    assert ok.allowed and ok.routes == ("chat-eu", "claude-sonnet")
    assert ok.rule.startswith("classification 'eu-personal' allows eu;")
    unrouted = m.cell("research", "bedrock:us-east-1/titan-embed")
    assert unrouted.state == NOT_ROUTED and not unrouted.allowed and unrouted.routes == ()
    assert m.classifications == {"web-app": "internal", "research": "public",
                                 "eu-support": "eu-personal"}


def _expected_from_spec(spec: Spec) -> dict[tuple[str, str], str]:
    """The same answers worked out from the spec's own models (not the gateway's tables)."""
    index = target_index(spec)
    rules = spec.compliance.classifications
    out = {}
    keys = {t.key for r in spec.routes for t in r.targets}
    for tenant in spec.tenants:
        named = {t.key for r in spec.routes if r.name in tenant.routes for t in r.targets}
        allowed = rules[tenant.classification].allowed_set()
        for key in keys:
            if key not in named:
                out[(tenant.name, key)] = NOT_ROUTED
            else:
                ok = regions.satisfies(index[key].processing, allowed)
                out[(tenant.name, key)] = ALLOWED if ok else REFUSED
    return out


def _variant(change: Any) -> Spec:
    doc = yaml.safe_load((ROOT / "examples" / "platform.yaml").read_text())
    change(doc)
    return parse_spec_text(yaml.safe_dump(doc), "platform.yaml")


def _eu_only(doc: dict[str, Any]) -> None:
    doc["compliance"]["classifications"]["internal"]["allowed"] = ["eu"]


def _public_everywhere(doc: dict[str, Any]) -> None:
    for tenant in doc["tenants"]:
        tenant["classification"] = "public"


@pytest.mark.parametrize("change", [None, _eu_only, _public_everywhere])
def test_every_cell_matches_the_spec_rules(default_spec: Spec, change: Any) -> None:
    spec = default_spec if change is None else _variant(change)
    m = residency_matrix(spec)
    assert {k: c.state for k, c in m.cells.items()} == _expected_from_spec(spec)
    assert set(m.targets) == {t.key for r in spec.routes for t in r.targets}
    assert m.tenants == tuple(t.name for t in spec.tenants)


def test_narrowing_a_classification_flips_the_cells(default_spec: Spec) -> None:
    before = residency_matrix(default_spec)
    after = residency_matrix(_variant(_eu_only))
    key = "bedrock:us-east-1/nova-pro"
    assert before.cell("web-app", key).allowed
    assert after.cell("web-app", key).state == REFUSED
    assert "allows processing only in eu" in after.cell("web-app", key).rule
