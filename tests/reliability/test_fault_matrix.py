"""Every upstream fault, on both wire formats, through the real gateway and the openai SDK.

For each fault of the local Azure OpenAI upstream and the local Bedrock runtime, JSON and
streamed, behind a route with a healthy fallback and behind a route with that target alone,
the test checks what the client sees (a fallback that succeeded, or a well-formed OpenAI
error with the right status; for a stream that already started, an SSE error event and no
``[DONE]``) and that the gateway wrote exactly one usage record whose attempts match the
upstream hits. Each case gets a fresh gateway, so circuit breakers opened by one fault do
not hide the next.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from skyrelay.gateway.metering import Meter
from skyrelay.gateway.providers.registry import ProviderRegistry
from skyrelay.gateway.serve import build_app
from skyrelay.gateway.tenancy.hooks import TenancyHooks
from skyrelay.gateway.tenancy.state import MemoryState
from skyrelay.gateway.testing.bedrock_upstream import BedrockUpstream
from skyrelay.gateway.testing.harness import ServerThread, base_config
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

TENANT_KEY = "sk-fault-matrix-tenant"
MSG = [{"role": "user", "content": "hello there"}]
FALLBACK_TIMEOUT = 2.0  # the first attempt gets half of it, the fallback the rest
SOLO_TIMEOUT = 1.0
SLOW = "3"  # seconds a delayed upstream waits: past every deadline above


@dataclass(frozen=True)
class Case:
    """One fault on one wire format, in one mode, and what the client must see."""

    wire: str  # "azure" | "bedrock"
    fault: str
    stream: bool
    # What ends the request when no fallback exists: an HTTP status and error code, or
    # "midstream" when the failure comes after the first chunk was sent.
    solo: tuple[int, str] | str
    # Whether a fallback target saves the request (False: 4xx answers and mid-stream faults).
    falls_back: bool = True

    @property
    def id(self) -> str:
        return f"{self.wire}-{'stream' if self.stream else 'json'}-{self.fault}"


# The error code: the upstream's own (Azure's code, Bedrock's exception name) when it sent
# one, else upstream_<kind>; never the upstream's "invalid_api_key" (the tenant's key is fine).
SERVER = (502, "upstream_server")
CONNECTION = (502, "upstream_connection")
PROTOCOL = (502, "upstream_protocol")
DEADLINE = (504, "deadline_exceeded")
MIDSTREAM = "midstream"

AZURE_CASES = [
    # (fault, solo outcome, falls back)
    ("429:1", (429, "rate_limit_exceeded"), True),
    ("429ms:500", (429, "429"), True),
    ("500", SERVER, True),
    ("503:1", SERVER, True),
    ("401", (502, "upstream_auth"), True),
    ("delay:" + SLOW, DEADLINE, True),
    ("reset_before_headers", CONNECTION, True),
    ("reset_after_headers", CONNECTION, True),
    ("invalid_sse", PROTOCOL, True),
    ("content_filter", (400, "content_filter"), False),
    ("400", (400, "invalid_value"), False),
]
AZURE_JSON_ONLY = [
    ("cut_stream", CONNECTION, True),  # half a JSON body, then a reset
    ("stall", DEADLINE, True),
    ("invalid_json", PROTOCOL, True),
]
AZURE_STREAM_ONLY = [
    # Azure's first chunk carries only prompt_filter_results and is not forwarded, so one
    # chunk then a fault is still before the first byte: the gateway can fall back.
    ("stall:1", DEADLINE, True),
    ("cut_stream:1", CONNECTION, True),
    ("stream_error:1", SERVER, True),
    ("invalid_json:1", PROTOCOL, True),
    # 1,100 data lines of 8 KiB without a blank line: one 8.8 MB event, over the 8 MiB cap
    ("long_event:1100", PROTOCOL, True),
    # After the role chunk and a word the client has bytes: an SSE error, no [DONE].
    ("stall:3", MIDSTREAM, False),
    ("cut_stream:3", MIDSTREAM, False),
    ("stream_error:3", MIDSTREAM, False),
    ("invalid_json:3", MIDSTREAM, False),
]
BEDROCK_CASES = [
    ("throttle:1", (429, "ThrottlingException"), True),
    ("500", (502, "InternalServerException"), True),
    ("503", (502, "ServiceUnavailableException"), True),
    ("delay:" + SLOW, DEADLINE, True),
    ("reset", CONNECTION, True),
    ("reset_after_headers", CONNECTION, True),
]
BEDROCK_JSON_ONLY = [
    ("cut", CONNECTION, True),
    ("stall", DEADLINE, True),
    ("invalid_json", PROTOCOL, True),
]
BEDROCK_STREAM_ONLY = [  # messageStart and a text delta were sent: the stream has started
    ("cut", MIDSTREAM, False),
    ("stall", MIDSTREAM, False),
    ("invalid_json", MIDSTREAM, False),
    ("exception", MIDSTREAM, False),
    ("badcrc", MIDSTREAM, False),
]


def _cases() -> list[Case]:
    out: list[Case] = []
    for wire, common, json_only, stream_only in (
            ("azure", AZURE_CASES, AZURE_JSON_ONLY, AZURE_STREAM_ONLY),
            ("bedrock", BEDROCK_CASES, BEDROCK_JSON_ONLY, BEDROCK_STREAM_ONLY)):
        for fault, solo, falls_back in common + json_only:
            out.append(Case(wire, fault, False, solo, falls_back))
        for fault, solo, falls_back in common + stream_only:
            out.append(Case(wire, fault, True, solo, falls_back))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[OpenAIUpstream, BedrockUpstream]]:
    """One Azure/OpenAI upstream (faulty deployment ``dep-f``, healthy model ``m-ok``) and
    one Bedrock runtime, shared by every case; faults are queued per case."""
    with OpenAIUpstream(api_key="sk-upstream", max_lifetime=600) as oai, \
            BedrockUpstream(max_lifetime=600) as bedrock:
        yield oai, bedrock


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFAULTMATRIX")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fault-matrix-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@dataclass
class Gateway:
    url: str
    client: openai.OpenAI
    out: io.BytesIO
    stop: Any


def _gateway(oai: OpenAIUpstream, bedrock: BedrockUpstream) -> Gateway:
    cfg = base_config(
        {"azure-f": {"cloud": "azure", "model": "dep-f", "account": "acct",
                     "region": "swedencentral", "endpoint": oai.url + "/"},
         "bedrock-f": {"cloud": "bedrock", "model": "us.anthropic.claude-test-v1:0",
                       "region": "us-east-1", "endpoint": bedrock.url},
         "ok": {"cloud": "openai", "model": "m-ok", "account": "local",
                "endpoint": oai.url + "/v1"}},
        {"azure-fb": {"targets": ["azure-f", "ok"], "max_attempts": 2,
                      "timeout_seconds": FALLBACK_TIMEOUT},
         "azure-solo": {"targets": ["azure-f"], "max_attempts": 1,
                        "timeout_seconds": SOLO_TIMEOUT},
         "bedrock-fb": {"targets": ["bedrock-f", "ok"], "max_attempts": 2,
                        "timeout_seconds": FALLBACK_TIMEOUT},
         "bedrock-solo": {"targets": ["bedrock-f"], "max_attempts": 1,
                          "timeout_seconds": SOLO_TIMEOUT}})
    out = io.BytesIO()
    meter = Meter(stream=out)
    registry = ProviderRegistry(cfg, environ={"SKYRELAY_AZURE_KEY_ACCT": "sk-upstream",
                                              "SKYRELAY_OPENAI_KEY_LOCAL": "sk-upstream"})
    app = build_app(cfg, providers=registry, environ={"T1_KEY": TENANT_KEY}, probe_interval=0,
                    hooks=TenancyHooks(MemoryState(), meter))
    server = ServerThread(app).start()

    def stop() -> None:
        server.stop()  # graceful: in-flight requests and their finish hooks complete
        meter.close()  # flushes the EMF writer thread

    client = openai.OpenAI(base_url=server.url + "/v1", api_key=TENANT_KEY, max_retries=0,
                           timeout=15)
    return Gateway(server.url, client, out, stop)


def _records(out: io.BytesIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _hits(oai: OpenAIUpstream, bedrock: BedrockUpstream) -> dict[str, int]:
    # the Azure target uses the v1 data plane (the default); the classic path is counted too
    return {"faulty": oai.hits["/openai/v1/chat/completions"]
            + oai.hits["/openai/deployments/dep-f/chat/completions"]
            + sum(v for k, v in bedrock.hits.items() if k.startswith("/model/")),
            "fallback": oai.hits["/v1/chat/completions"]}


def _well_formed(error: Any) -> dict[str, Any]:
    """The OpenAI error object: message, type, param and code, and nothing leaked."""
    assert isinstance(error, dict) and set(error) >= {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"] and TENANT_KEY not in error["message"]
    return error


def _run_json(gw: Gateway, route: str) -> dict[str, Any]:
    try:
        raw = gw.client.chat.completions.with_raw_response.create(model=route, messages=MSG)
    except openai.APIStatusError as err:
        body = err.response.json()
        return {"status": err.status_code, "error": _well_formed(body["error"]),
                "headers": err.response.headers}
    answer = raw.parse()
    return {"status": raw.http_response.status_code, "headers": raw.headers,
            "text": answer.choices[0].message.content, "done": True}


def _run_stream(gw: Gateway, route: str) -> dict[str, Any]:
    try:
        raw = gw.client.chat.completions.with_raw_response.create(
            model=route, messages=MSG, stream=True, stream_options={"include_usage": True})
    except openai.APIStatusError as err:
        return {"status": err.status_code, "error": _well_formed(err.response.json()["error"]),
                "headers": err.response.headers}
    text, usage = "", None
    try:
        for chunk in raw.parse():
            usage = chunk.usage or usage
            text += "".join(c.delta.content or "" for c in chunk.choices)
    except openai.APIError as err:  # the SDK raises on an SSE error event
        assert isinstance(err.body, dict)
        return {"status": raw.http_response.status_code, "headers": raw.headers,
                "text": text, "midstream_error": _well_formed(err.body)}
    return {"status": raw.http_response.status_code, "headers": raw.headers, "text": text,
            "usage": usage, "done": True}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("route_kind", ["fb", "solo"])
def test_fault(case: Case, route_kind: str,
               upstreams: tuple[OpenAIUpstream, BedrockUpstream]) -> None:
    oai, bedrock = upstreams
    if case.wire == "azure":
        oai.fault(case.fault, model="dep-f")
    else:
        bedrock.fault(case.fault)
    before = _hits(oai, bedrock)
    gw = _gateway(oai, bedrock)
    try:
        route = f"{case.wire}-{route_kind}"
        seen = _run_stream(gw, route) if case.stream else _run_json(gw, route)
    finally:
        gw.stop()
    after = _hits(oai, bedrock)
    hits = {k: after[k] - before[k] for k in after}
    records = _records(gw.out)

    assert len(records) == 1, f"{case.id}: {len(records)} usage records"
    record = records[0]
    assert record["Tenant"] == "t1" and record["Route"] == route
    assert record["Attempts"] == hits["faulty"] + hits["fallback"], (record, hits)
    assert hits["faulty"] == 1  # the fault was consumed by this request, once

    if route_kind == "fb" and case.falls_back:
        assert seen.get("done"), seen
        assert seen["status"] == 200 and seen["headers"]["x-skyrelay-target"] == "ok"
        assert seen["headers"]["x-skyrelay-attempts"] == "2"
        assert seen["text"] == "Hello from the upstream"
        assert hits["fallback"] == 1
        assert record["Outcome"] == "success" and record["Target"] == "ok"
        assert record["OutputTokens"] == 4
        if case.stream:
            assert seen["usage"] is not None and seen["usage"].completion_tokens == 4
        return

    assert hits["fallback"] == 0
    assert record["Outcome"] == "error"
    if case.solo == MIDSTREAM:
        assert seen["status"] == 200 and "midstream_error" in seen, seen
        assert seen["text"], "a mid-stream failure comes after some content"
        assert record["Target"] == f"{case.wire}-f"
        return
    status, code = case.solo  # type: ignore[misc]
    assert seen["status"] == status, seen
    assert seen["error"]["code"] == code, seen
    assert record["Status"] == status
    if status == 429 and case.wire == "azure":
        assert int(seen["headers"]["retry-after"]) >= 1


def test_matrix_covers_every_fault_of_both_upstreams() -> None:
    """A fault added to an upstream without a row here fails this test."""
    from skyrelay.gateway.testing import bedrock_upstream, upstreams

    tried = {(c.wire, c.fault.partition(":")[0]) for c in CASES}
    assert {f for w, f in tried if w == "azure"} == set(upstreams.FAULTS)
    assert {f for w, f in tried if w == "bedrock"} == set(bedrock_upstream.FAULTS)


def test_health_endpoints_are_not_metered(upstreams: tuple[OpenAIUpstream, BedrockUpstream]
                                          ) -> None:
    """The usage-record count above is per model request: probes never add records."""
    gw = _gateway(*upstreams)
    try:
        for path in ("/healthz", "/readyz", "/metrics", "/v1/models"):
            httpx.get(gw.url + path, headers={"authorization": "Bearer " + TENANT_KEY})
    finally:
        gw.stop()
    assert _records(gw.out) == []
