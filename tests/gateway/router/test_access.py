"""Residency and access (``skyrelay.gateway.router.access``): the compliance promise.

A tenant's data may only go to a target whose processing set lies inside what its
classification allows; a request may narrow its classification, never widen it; a route a
tenant may not use looks exactly like one that does not exist. Each test names the rule it
pins down; the properties at the end check the eligibility rule against an independent
oracle for generated configs.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.router.access import CLASSIFICATION_HEADER, AccessPolicy
from skyrelay.gateway.testing.harness import base_config

EU = ["aws:eu-central-1", "azure:swedencentral"]
CLASSES = {
    "public": {"allowed": ["any"], "processing_allowed": ["*"]},
    "eu": {"allowed": ["eu"], "processing_allowed": EU},
    "frankfurt": {"allowed": ["eu-central-1"], "processing_allowed": ["aws:eu-central-1"]},
    "us": {"allowed": ["us"], "processing_allowed": ["aws:us-east-1"]},
}
TARGETS: dict[str, dict[str, Any]] = {
    "global": {"processing": ["*"]},
    "fra": {"processing": ["aws:eu-central-1"]},
    "sweden": {"processing": ["azure:swedencentral"]},
    # Overlaps the EU set but also processes in the US: must never serve EU data.
    "eu-and-us": {"processing": ["aws:eu-central-1", "aws:us-east-1"]},
    "virginia": {"processing": ["aws:us-east-1"]},
    "emb": {"processing": ["*"], "kind": "embedding"},
}


def config(tenants: dict[str, dict[str, Any]] | None = None) -> GatewayConfig:
    routes = {
        "chat": {"targets": ["global", "eu-and-us", "sweden", {"key": "fra", "weight": 5},
                             "virginia"]},
        "embed": {"kind": "embedding", "targets": ["emb"]},
        "us-only": {"targets": ["virginia"]},
    }
    tenants = tenants or {
        "acme": {"api_key": {"env": "A"}, "routes": ["chat", "embed", "us-only"],
                 "classification": "eu"},
        "pub": {"api_key": {"env": "P"}, "routes": ["chat"], "classification": "public"},
    }
    return base_config(TARGETS, routes, tenants, CLASSES)


@pytest.fixture
def cfg() -> GatewayConfig:
    return config()


def refused(call: Any, *args: Any) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        call(*args)
    return info.value


# --- eligibility ---------------------------------------------------------------------------

def test_eligible_is_subset_not_overlap(cfg: GatewayConfig) -> None:
    """A target that processes in the EU *and* the US overlaps the EU rule but is not inside
    it: serving EU data there would break residency (the planted overlap bug)."""
    policy = AccessPolicy(cfg)
    found = policy.eligible(cfg.routes["chat"], cfg.classifications["eu"])
    assert [t.key for t in found.targets] == ["sweden", "fra"]
    # Weights travel with their targets, in the same (spec) order.
    assert found.weights == (1, 5)


def test_global_targets_serve_only_unrestricted_data(cfg: GatewayConfig) -> None:
    policy = AccessPolicy(cfg)
    public = policy.eligible(cfg.routes["chat"], cfg.classifications["public"])
    assert [t.key for t in public.targets] == ["global", "eu-and-us", "sweden", "fra",
                                               "virginia"]
    assert public.weights == (1, 1, 1, 5, 1)
    narrow = policy.eligible(cfg.routes["chat"], cfg.classifications["frankfurt"])
    assert [t.key for t in narrow.targets] == ["fra"]


def test_no_eligible_target_is_a_403_naming_route_and_rule(cfg: GatewayConfig) -> None:
    policy = AccessPolicy(cfg)
    err = refused(policy.eligible, cfg.routes["us-only"], cfg.classifications["eu"])
    assert err.status == 403 and err.code == "residency_violation"
    assert "route 'us-only'" in err.message
    # The rule is spelled out, its allowed places joined with ", ".
    assert "classification 'eu' allows processing only in eu." in err.message


def test_rule_description_joins_every_allowed_place() -> None:
    classes = {**CLASSES, "two": {"allowed": ["eu", "uk"], "processing_allowed": EU}}
    cfg = base_config(TARGETS, {"r": {"targets": ["virginia"]}}, None, classes)
    err = refused(AccessPolicy(cfg).eligible, cfg.routes["r"], cfg.classifications["two"])
    assert "allows processing only in eu, uk." in err.message


def test_a_route_naming_an_unknown_target_skips_it() -> None:
    data_cfg = base_config(TARGETS, {"r": {"targets": ["fra"]}}, None, CLASSES)
    route = data_cfg.routes["r"]
    bad = type(route)(route.name, route.kind, route.strategy, route.timeout_seconds,
                      route.max_attempts, (*route.targets, type(route.targets[0])("ghost", 3)),
                      route.classifications)
    cfg = GatewayConfig(data_cfg.name, data_cfg.currency, data_cfg.targets, {"r": bad},
                        data_cfg.tenants, data_cfg.classifications)
    found = AccessPolicy(cfg).eligible(bad, cfg.classifications["public"])
    assert [t.key for t in found.targets] == ["fra"] and found.weights == (1,)


# --- routes --------------------------------------------------------------------------------

def test_route_for_returns_the_route_of_that_kind(cfg: GatewayConfig) -> None:
    policy = AccessPolicy(cfg)
    acme = cfg.tenants["acme"]
    assert policy.route_for(acme, "chat", "chat") is cfg.routes["chat"]
    assert policy.route_for(acme, "embed", "embedding") is cfg.routes["embed"]


def test_route_the_tenant_may_not_use_answers_like_a_missing_one(cfg: GatewayConfig) -> None:
    """Route names must not leak across tenants: same status, code, param and wording."""
    policy = AccessPolicy(cfg)
    missing = refused(policy.route_for, cfg.tenants["pub"], "nope", "chat")
    forbidden = refused(policy.route_for, cfg.tenants["pub"], "embed", "embedding")
    assert (missing.status, missing.code, missing.param) == (404, "model_not_found", "model")
    assert (forbidden.status, forbidden.code, forbidden.param) == (404, "model_not_found",
                                                                    "model")
    assert forbidden.message == missing.message.replace("nope", "embed")


def test_unknown_tenant_may_use_no_route(cfg: GatewayConfig) -> None:
    policy = AccessPolicy(cfg)
    stranger = type(cfg.tenants["acme"])("stranger", {}, ("chat",), "eu", 1.0, 1, 1)
    assert refused(policy.route_for, stranger, "chat", "chat").code == "model_not_found"


@pytest.mark.parametrize(("model", "kind", "what"), [
    ("chat", "embedding", "an embedding"), ("embed", "chat", "a chat")])
def test_route_of_the_wrong_kind_is_a_404_saying_what_it_is_not(
        cfg: GatewayConfig, model: str, kind: str, what: str) -> None:
    err = refused(AccessPolicy(cfg).route_for, cfg.tenants["acme"], model, kind)
    assert (err.status, err.code, err.param) == (404, "model_not_supported", "model")
    assert err.message == f"The model `{model}` is not {what} model."


def test_routes_for_keeps_the_tenants_order_and_skips_unknown_names() -> None:
    cfg = config({"t": {"api_key": {"env": "T"}, "routes": ["us-only", "ghost", "chat"],
                        "classification": "public"}})
    names = [r.name for r in AccessPolicy(cfg).routes_for(cfg.tenants["t"])]
    assert names == ["us-only", "chat"]


# --- classifications -----------------------------------------------------------------------

def test_no_header_or_own_name_gives_the_tenants_classification(cfg: GatewayConfig) -> None:
    policy = AccessPolicy(cfg)
    acme = cfg.tenants["acme"]
    assert policy.classification_for(acme, None) is cfg.classifications["eu"]
    assert policy.classification_for(acme, "eu") is cfg.classifications["eu"]


def test_a_request_may_narrow_its_classification(cfg: GatewayConfig) -> None:
    policy = AccessPolicy(cfg)
    assert policy.classification_for(cfg.tenants["acme"], "frankfurt").name == "frankfurt"
    assert policy.classification_for(cfg.tenants["pub"], "us").name == "us"


@pytest.mark.parametrize("wider", ["public", "us"])
def test_a_wider_or_disjoint_classification_is_refused(cfg: GatewayConfig, wider: str) -> None:
    err = refused(AccessPolicy(cfg).classification_for, cfg.tenants["acme"], wider)
    assert (err.status, err.code) == (403, "classification_not_allowed")
    assert f"'{wider}' is wider than the tenant's 'eu'" in err.message
    assert "allows processing only in eu" in err.message
    assert err.message.endswith("a request may only narrow its classification.")


def test_unknown_classification_header_is_a_400_listing_the_defined_ones(
        cfg: GatewayConfig) -> None:
    err = refused(AccessPolicy(cfg).classification_for, cfg.tenants["acme"], "x" * 500)
    assert (err.status, err.code, err.param) == (400, "classification_unknown",
                                                 CLASSIFICATION_HEADER)
    # The echoed value is cut at 100 characters: a header must not blow up the answer.
    assert f"'{'x' * 100}'" in err.message and "x" * 101 not in err.message
    assert err.message.endswith("defined: eu, frankfurt, public, us.")


def test_tenant_with_an_undefined_classification_is_refused_not_guessed() -> None:
    cfg = config({"t": {"api_key": {"env": "T"}, "routes": ["chat"],
                        "classification": "gone"}})
    policy = AccessPolicy(cfg)
    for header in (None, "gone"):
        err = refused(policy.classification_for, cfg.tenants["t"], header)
        assert (err.status, err.code) == (403, "classification_unknown")
        assert err.message == ("Tenant classification 'gone' is not defined; no target "
                               "may serve it.")
    # Asking for a defined classification on top is refused the same way: without a rule
    # of its own nothing can be judged narrower (this crashed with a KeyError, a 500).
    err = refused(policy.classification_for, cfg.tenants["t"], "eu")
    assert (err.status, err.code) == (403, "classification_unknown")


# --- properties ----------------------------------------------------------------------------

PLACES = ["aws:eu-central-1", "aws:eu-west-1", "aws:us-east-1", "azure:swedencentral",
          "azure:eastus"]
place_sets = st.one_of(
    st.just(["*"]), st.lists(st.sampled_from(PLACES), min_size=1, max_size=4, unique=True))


def inside(processing: set[str], allowed: set[str]) -> bool:
    """The oracle, written independently of ``regions.satisfies``."""
    if "*" in allowed:
        return True
    return "*" not in processing and all(p in allowed for p in processing)


@st.composite
def configs(draw: st.DrawFn) -> GatewayConfig:
    n_targets = draw(st.integers(1, 6))
    targets = {f"t{i}": {"processing": draw(place_sets)} for i in range(n_targets)}
    keys = list(targets)
    routes = {
        f"r{j}": {"targets": [{"key": k, "weight": draw(st.integers(0, 5))}
                              for k in draw(st.lists(st.sampled_from(keys), min_size=1,
                                                     max_size=n_targets, unique=True))]}
        for j in range(draw(st.integers(1, 3)))
    }
    classes = {f"c{i}": {"allowed": ["x"], "processing_allowed": draw(place_sets)}
               for i in range(draw(st.integers(1, 4)))}
    tenants = {f"n{i}": {"api_key": {"env": f"K{i}"}, "routes": list(routes),
                         "classification": draw(st.sampled_from(sorted(classes)))}
               for i in range(2)}
    return base_config(targets, routes, tenants, classes)


@given(cfg=configs())
def test_property_eligible_targets_are_exactly_those_inside_the_classification(
        cfg: GatewayConfig) -> None:
    """Every eligible target's processing set lies inside what the classification allows,
    no other target of the route is eligible, and the spec's order and weights are kept."""
    policy = AccessPolicy(cfg)
    for route in cfg.routes.values():
        for cls in cfg.classifications.values():
            expected = [(rt.key, rt.weight) for rt in route.targets
                        if inside(set(cfg.targets[rt.key].processing),
                                  set(cls.processing_allowed))]
            if not expected:
                assert refused(policy.eligible, route, cls).code == "residency_violation"
                continue
            found = policy.eligible(route, cls)
            assert [(t.key, w) for t, w in zip(found.targets, found.weights,
                                               strict=True)] == expected


@given(cfg=configs(), data=st.data())
def test_property_a_request_never_reaches_a_place_its_tenant_forbids(
        cfg: GatewayConfig, data: st.DataObject) -> None:
    """Whatever classification header a request sends, the targets it may use process only
    where the tenant's own classification allows (narrowing cannot widen)."""
    policy = AccessPolicy(cfg)
    tenant = data.draw(st.sampled_from(sorted(cfg.tenants.values(), key=lambda t: t.name)))
    header = data.draw(st.one_of(st.none(), st.sampled_from(sorted(cfg.classifications))))
    own = set(cfg.classifications[tenant.classification].processing_allowed)
    try:
        cls = policy.classification_for(tenant, header)
    except GatewayError as err:
        assert err.status == 403 and header is not None
        assert not inside(set(cfg.classifications[header].processing_allowed), own)
        return
    assert header is None or inside(set(cls.processing_allowed), own)
    for route in cfg.routes.values():
        try:
            found = policy.eligible(route, cls)
        except GatewayError:
            continue
        for target in found.targets:
            assert inside(set(target.processing), own), (target.key, tenant.name)
