"""Issue 22, finding 9: the smaller items, against the real ``skyrelay gateway serve``.

An encoded path is not an endpoint; a request that can never fit the tenant's tokens per
minute is a 400, not a 429 to retry; many SSE data lines without a blank line are bounded
as one event; a compressed body is 415.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skyrelay.gateway.tenancy.keys import new_key
from skyrelay.gateway.testing.harness import base_config_dict
from skyrelay.gateway.testing.serve_process import ServeProcess
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

BODY = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    key, stored = new_key()
    with OpenAIUpstream(max_lifetime=600) as up:
        config = base_config_dict(
            {"up": {"endpoint": up.url + "/v1"}}, {"chat": {"targets": ["up"],
                                                            "max_attempts": 1}},
            tenants={"t1": {"api_key": {"env": "T1_KEY"}, "routes": ["chat"],
                            "classification": "public", "tokens_per_minute": 10_000}})
        with ServeProcess(config, {"T1_KEY": stored},
                          Path(tmp_path_factory.mktemp("serve"))) as proc:
            yield {"proc": proc, "auth": {"authorization": "Bearer " + key}, "up": up}


def test_an_encoded_path_is_not_an_endpoint(gw: dict[str, Any]) -> None:
    url = gw["proc"].url
    hits = gw["up"].hits["/v1/chat/completions"]
    for path in ("/v1%2Fchat%2Fcompletions", "/v1/chat%2Fcompletions", "/%761/embeddings"):
        answer = httpx.post(url + path, json=BODY, headers=gw["auth"], timeout=5)
        assert answer.status_code == 404, (path, answer.text)
    assert gw["up"].hits["/v1/chat/completions"] == hits
    assert httpx.post(url + "/v1/chat/completions", json=BODY, headers=gw["auth"],
                      timeout=5).status_code == 200


def test_a_request_that_can_never_fit_the_limit_is_400(gw: dict[str, Any]) -> None:
    answer = httpx.post(gw["proc"].url + "/v1/chat/completions", timeout=5,
                        headers=gw["auth"], json={**BODY, "max_tokens": 20_000})
    assert answer.status_code == 400 and "retry-after" not in answer.headers
    error = answer.json()["error"]
    assert error["code"] == "request_exceeds_token_limit" and error["param"] == "max_tokens"


def test_a_compressed_body_is_415(gw: dict[str, Any]) -> None:
    answer = httpx.post(gw["proc"].url + "/v1/chat/completions", timeout=5,
                        content=gzip.compress(json.dumps(BODY).encode()),
                        headers={**gw["auth"], "content-type": "application/json",
                                 "content-encoding": "gzip"})
    assert answer.status_code == 415
    assert answer.json()["error"]["code"] == "unsupported_content_encoding"


def test_sse_data_lines_without_a_blank_line_are_bounded_as_one_event(gw: dict[str, Any]
                                                                      ) -> None:
    proc = gw["proc"]
    before = proc.rss_bytes()
    gw["up"].fault("long_event:4000")  # 4,000 lines of 8 KiB: a 32 MiB "event"
    answer = httpx.post(proc.url + "/v1/chat/completions", timeout=30, headers=gw["auth"],
                        json={**BODY, "stream": True})
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "upstream_protocol"
    grown = proc.rss_bytes() - before
    assert grown < 20 * 1024 * 1024, grown
    assert httpx.post(proc.url + "/v1/chat/completions", json=BODY, headers=gw["auth"],
                      timeout=5).status_code == 200
