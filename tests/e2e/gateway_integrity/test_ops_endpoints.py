"""Issue 22, finding 7: operational endpoints expose nothing about tenants to strangers.

Against the real ``skyrelay gateway serve`` process: ``/metrics`` is served on its own port
(and on the main port only with the scrape token), ``/readyz`` on the main port answers its
status only, and refused credentials are counted in a metric and logged once per burst,
without key material.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skyrelay.gateway.tenancy.keys import new_key
from skyrelay.gateway.testing.harness import base_config_dict
from skyrelay.gateway.testing.serve_process import ServeProcess
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

TOKEN = "scrape-token-0123456789abcdef"
TENANT = "tenant-secretive"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    key, stored = new_key()
    with OpenAIUpstream() as up:
        config = base_config_dict(
            {"up": {"endpoint": up.url + "/v1"}}, {"chat": {"targets": ["up"]}},
            tenants={TENANT: {"routes": ["chat"], "classification": "public",
                              "api_key": {"env": "KEY"}}})
        with ServeProcess(config, {"KEY": stored, "SKYRELAY_METRICS_TOKEN": TOKEN},
                          Path(tmp_path_factory.mktemp("serve"))) as proc:
            answer = httpx.post(proc.url + "/v1/chat/completions", timeout=10,
                                headers={"authorization": "Bearer " + key},
                                json={"model": "chat", "messages": [{"role": "user",
                                                                     "content": "hi"}]})
            assert answer.status_code == 200
            proc.wait_records(1)
            yield {"proc": proc, "key": key}


def test_metrics_are_not_readable_on_the_main_port_without_the_token(gw: dict[str, Any]
                                                                      ) -> None:
    proc = gw["proc"]
    for headers in ({}, {"authorization": "Bearer wrong-token-0123456789"},
                    {"authorization": "Bearer " + gw["key"]}):
        answer = httpx.get(proc.url + "/metrics", headers=headers, timeout=5)
        assert answer.status_code == 404 and TENANT not in answer.text
    with_token = httpx.get(proc.url + "/metrics", timeout=5,
                           headers={"authorization": "Bearer " + TOKEN})
    assert with_token.status_code == 200 and f'tenant="{TENANT}"' in with_token.text
    own_port = httpx.get(proc.metrics_url + "/metrics", timeout=5)
    assert own_port.status_code == 200 and f'tenant="{TENANT}"' in own_port.text
    # the metrics port serves the operational endpoints only
    assert httpx.post(proc.metrics_url + "/v1/chat/completions", json={},
                      timeout=5).status_code == 404


def test_readyz_answers_status_only_unless_asked_with_the_token(gw: dict[str, Any]) -> None:
    proc = gw["proc"]
    plain = httpx.get(proc.url + "/readyz", timeout=5)
    assert set(plain.json()) == {"status"}
    assert "up" not in plain.text and "routes" not in plain.text
    for detailed in (httpx.get(proc.url + "/readyz", timeout=5,
                               headers={"authorization": "Bearer " + TOKEN}),
                     httpx.get(proc.metrics_url + "/readyz", timeout=5)):
        assert detailed.status_code == plain.status_code
        assert {"status", "routes", "upstreams"} <= set(detailed.json())


def test_refused_credentials_are_counted_and_logged_once_per_burst(gw: dict[str, Any]
                                                                   ) -> None:
    proc = gw["proc"]
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    wrong = "sk-sr-0123456789ab-" + "x" * 43
    for _ in range(5):
        assert httpx.post(proc.url + "/v1/chat/completions", json=body, timeout=5,
                          headers={"authorization": "Bearer " + wrong}).status_code == 401
    assert httpx.post(proc.url + "/v1/chat/completions", json=body,
                      timeout=5).status_code == 401
    assert httpx.get(proc.url + "/v1/models", timeout=5, headers=[
        ("authorization", "Bearer " + wrong), ("api-key", gw["key"])]).status_code == 400
    metrics = httpx.get(proc.metrics_url + "/metrics", timeout=5).text
    assert 'skyrelay_auth_failures_total{reason="invalid"} 5.0' in metrics
    assert 'skyrelay_auth_failures_total{reason="missing"} 1.0' in metrics
    assert 'skyrelay_auth_failures_total{reason="conflicting"} 1.0' in metrics
    deadline = time.monotonic() + 15
    while "refused for their credentials" not in proc.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    logs = proc.logs()
    lines = [line for line in logs.splitlines() if "refused for their credentials" in line]
    assert len(lines) == 1, logs[-2000:]
    assert "7 request(s)" in lines[0] and "invalid=5" in lines[0]
    assert wrong not in logs and gw["key"] not in logs and "0123456789ab" not in logs
