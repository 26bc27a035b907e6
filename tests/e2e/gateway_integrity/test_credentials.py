"""Issue 22, findings 5 and 6: one credential per request; the gateway owns request ids.

Against the real ``skyrelay gateway serve`` process: two different credentials, or an
auth header twice, are refused without naming either; every record's id is the gateway's,
and a client's ``x-request-id`` is echoed and recorded apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skyrelay.gateway.tenancy.keys import new_key
from skyrelay.gateway.testing.harness import base_config_dict
from skyrelay.gateway.testing.serve_process import ServeProcess
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    key_a, stored_a = new_key()
    key_b, stored_b = new_key()
    with OpenAIUpstream() as up:
        tenant = {"routes": ["chat"], "classification": "public"}
        config = base_config_dict(
            {"up": {"endpoint": up.url + "/v1"}}, {"chat": {"targets": ["up"]}},
            tenants={"a": {**tenant, "api_key": {"env": "KEY_A"}},
                     "b": {**tenant, "api_key": {"env": "KEY_B"}}})
        with ServeProcess(config, {"KEY_A": stored_a, "KEY_B": stored_b},
                          Path(tmp_path_factory.mktemp("serve"))) as proc:
            yield {"proc": proc, "a": key_a, "b": key_b, "upstream": up}


def _post(gw: dict[str, Any], headers: list[tuple[str, str]], path: str = "/v1/chat/completions"
          ) -> httpx.Response:
    if path == "/v1/models":
        return httpx.get(gw["proc"].url + path, headers=headers, timeout=10)
    return httpx.post(gw["proc"].url + path, headers=headers, json=CHAT, timeout=10)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/models"])
@pytest.mark.parametrize("case", ["bearer_and_api_key", "two_authorization", "two_api_keys"])
def test_two_credentials_are_refused_without_naming_either(gw: dict[str, Any], case: str,
                                                           path: str) -> None:
    a, b = gw["a"], gw["b"]
    headers = {"bearer_and_api_key": [("authorization", f"Bearer {b}"), ("api-key", a)],
               "two_authorization": [("authorization", f"Bearer {a}"),
                                     ("authorization", f"Bearer {b}")],
               "two_api_keys": [("api-key", b), ("api-key", a)]}[case]
    hits = gw["upstream"].hits["/v1/chat/completions"]
    answer = _post(gw, headers, path)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "conflicting_credentials"
    for key in (a, b):
        assert key not in answer.text and key[6:18] not in answer.text
    assert gw["upstream"].hits["/v1/chat/completions"] == hits  # nothing was served


def test_the_same_key_in_both_headers_is_one_credential(gw: dict[str, Any]) -> None:
    answer = _post(gw, [("authorization", f"Bearer {gw['a']}"), ("api-key", gw["a"])])
    assert answer.status_code == 200


OWN_ID = re.compile(r"^[0-9a-f]{12}-[0-9a-f]+$")


def test_records_carry_the_gateways_ids_and_the_clients_apart(gw: dict[str, Any]) -> None:
    proc = gw["proc"]
    ids: list[str] = []
    for tenant in ("a", "b"):
        answer = _post(gw, [("authorization", f"Bearer {gw[tenant]}"),
                            ("x-request-id", "same-id-1")])
        assert answer.status_code == 200
        ids.append(answer.headers["x-request-id"])
        assert answer.headers["x-client-request-id"] == "same-id-1"
    assert all(OWN_ID.match(i) for i in ids) and ids[0] != ids[1]
    def ours(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if r["RequestId"] in ids]

    records = ours(proc.wait_records(0, ready=lambda rs: len(ours(rs)) == 2))
    assert len(records) == 2
    assert {r["RequestId"] for r in records} == set(ids)
    assert [r["ClientRequestId"] for r in records] == ["same-id-1", "same-id-1"]
    assert {r["Tenant"] for r in records} == {"a", "b"}
