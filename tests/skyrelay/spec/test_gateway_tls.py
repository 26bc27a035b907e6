"""``gateway.tls``: a certificate by default, plain HTTP only as a documented opt-out.

Issue 20, failure 4: the load balancer spoke plain HTTP unless a certificate ARN was given.
Now the spec names the certificate (a private CA the stack creates, or ACM ARNs per
region), and ``plain-http`` needs a reason; every mistake names its field.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay.spec import SpecError, parse_spec_text
from skyrelay.views.plan import build_plan

BASE = yaml.safe_load((Path(__file__).resolve().parents[3] / "examples" / "platform.yaml")
                      .read_text())
ARN = "arn:aws:acm:{r}:111122223333:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def load(tls: dict[str, Any]) -> Any:
    doc = copy.deepcopy(BASE)
    doc["gateway"]["tls"] = tls
    return parse_spec_text(yaml.safe_dump(doc, sort_keys=False), "spec.yaml")


def issues(tls: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        load(tls)
    return [(i.dotted, i.message) for i in info.value.issues]


def test_the_default_is_a_private_ca_certificate_per_region() -> None:
    doc = copy.deepcopy(BASE)
    del doc["gateway"]["tls"]
    spec = parse_spec_text(yaml.safe_dump(doc, sort_keys=False), "spec.yaml")
    assert spec.gateway.tls.certificate == "private-ca"
    assert spec.gateway.tls.domain_for("acme-ai", "eu-central-1") == \
        "gateway.eu-central-1.acme-ai.internal"
    listeners = {g["region"]: g["listener"] for g in build_plan(spec)["gateways"]}
    assert listeners["us-east-1"]["protocol"] == "HTTPS" and listeners["us-east-1"]["port"] == 443


def test_acm_certificates_for_every_gateway_region_of_their_own_region() -> None:
    both = {r: ARN.format(r=r) for r in ("us-east-1", "eu-central-1")}
    spec = load({"certificate": "acm", "certificate_arns": both})
    listeners = {g["region"]: g["listener"] for g in build_plan(spec)["gateways"]}
    assert listeners["eu-central-1"]["certificate_arn"] == both["eu-central-1"]
    missing = issues({"certificate": "acm",
                      "certificate_arns": {"us-east-1": both["us-east-1"]}})
    assert missing == [("gateway.tls.certificate_arns",
                        "certificate: acm needs an ACM certificate ARN for every gateway "
                        "region; eu-central-1 has none")]
    wrong = issues({"certificate": "acm", "certificate_arns": {
        "us-east-1": ARN.format(r="us-west-2"), "eu-central-1": both["eu-central-1"]}})
    assert len(wrong) == 1 and wrong[0][0] == "gateway.tls.certificate_arns"
    assert "in us-west-2; a load balancer takes only certificates of its own region" in wrong[0][1]


@pytest.mark.parametrize(("tls", "text"), [
    ({"certificate": "plain-http"}, "give plain_http_reason"),
    ({"certificate": "private-ca", "plain_http_reason": "because I said so"},
     "plain_http_reason applies only to certificate: plain-http"),
    ({"certificate": "private-ca", "domain_name": "Gateway.Example"}, "not a lower-case DNS name"),
    ({"certificate": "acm", "certificate_arns": {"us-east-1": "arn:aws:iam::1:role/x"}},
     "is not an ACM certificate ARN"),
    ({"certificate": "https"}, "Input should be 'private-ca', 'acm' or 'plain-http'"),
])
def test_bad_tls_settings_name_the_field(tls: dict[str, Any], text: str) -> None:
    found = issues(tls)
    assert found and all(path.startswith("gateway.tls") for path, _ in found), found
    assert any(text in message for _, message in found), found


def test_plain_http_is_the_documented_opt_out_the_plan_flags() -> None:
    spec = load({"certificate": "plain-http",
                 "plain_http_reason": "TLS ends at the service mesh sidecar"})
    (first, *_) = build_plan(spec)["gateways"]
    assert (first["listener"]["protocol"], first["listener"]["port"]) == ("HTTP", 80)
    assert "clear text" in first["listener"]["warning"]
    assert "TLS ends at the service mesh sidecar" in first["listener"]["warning"]
