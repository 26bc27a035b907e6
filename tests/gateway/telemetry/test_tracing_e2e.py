"""OpenTelemetry GenAI traces, end to end: the official ``openai`` SDK calls the gateway,
the gateway calls the local fake upstream, and an in-process OTLP/HTTP receiver decodes
what the gateway's batch exporter sends (protobuf ``ExportTraceServiceRequest``).

Checked: one SERVER span per request and one CLIENT span per attempt (a fallback shows two),
the GenAI attributes plus tenant, route and target, no prompt or completion text unless
``log_prompts`` is on, a client ``traceparent`` honoured (same trace) and each attempt's
``traceparent`` forwarded to the upstream, and nothing traced or forwarded when off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.serve import build_app
from skyrelay.gateway.testing.bedrock_upstream import BedrockUpstream
from skyrelay.gateway.testing.harness import ServerThread, base_config_dict, ops_for_tests
from skyrelay.gateway.testing.otlp_receiver import OtlpReceiver
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

KEY = "sk-tracing-0123456789"
PROMPT = "the secret prompt about zebras"
REPLY = "a confidential completion"
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


def _config(url: str, log_prompts: bool) -> GatewayConfig:
    data = base_config_dict(
        {"a": {"endpoint": url + "/v1", "model": "m-a"},
         "b": {"endpoint": url + "/v1", "model": "m-b"},
         "c": {"endpoint": url + "/v1", "model": "m-c"}},
        {"chat": {"targets": ["a"]}, "pair": {"targets": ["b", "c"], "max_attempts": 2},
         "again": {"targets": ["b"], "max_attempts": 2}},
        tenants={"acme": {"api_key": {"env": "T_KEY"}, "routes": ["chat", "pair", "again"],
                          "classification": "public"}})
    return GatewayConfig.from_dict({**data, "log_prompts": log_prompts})


class Gateway:
    """A traced gateway, its upstream and its receiver."""

    def __init__(self, log_prompts: bool, traced: bool = True) -> None:
        self.up = OpenAIUpstream(reply=REPLY, max_lifetime=120.0).start()
        self.sink = OtlpReceiver(max_lifetime=120.0).start()
        environ = {"T_KEY": KEY}
        if traced:
            environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = self.sink.url + "/v1/traces"
        self.app = build_app(_config(self.up.url, log_prompts), environ=environ,
                             probe_interval=0, ops=ops_for_tests())
        self.server = ServerThread(self.app).start()
        self.client = openai.OpenAI(base_url=self.server.url + "/v1", api_key=KEY,
                                    max_retries=0)

    def flush(self) -> None:
        assert self.app.tracing is not None
        assert self.app.tracing.force_flush(10_000)

    def close(self) -> None:
        self.server.stop()
        self.sink.stop()
        self.up.stop()


@pytest.fixture(scope="module")
def gw() -> Iterator[Gateway]:
    g = Gateway(log_prompts=False)
    try:
        yield g
    finally:
        g.close()


def _one_request(g: Gateway, **kwargs: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Spans of the request just made: (request span, attempt spans in start order)."""
    g.flush()
    servers = g.sink.wait_for(1, kind="SERVER")
    assert len(servers) == 1, servers
    (request,) = servers
    attempts = sorted((s for s in g.sink.spans if s["kind"] == "CLIENT"),
                      key=lambda s: s["start"])
    assert all(s["trace_id"] == request["trace_id"] for s in attempts)
    assert all(s["parent_span_id"] == request["span_id"] for s in attempts)
    return request, attempts


def _all_values(spans: list[dict[str, Any]]) -> str:
    return " ".join(str(v) for s in spans for v in s["attributes"].values())


def test_one_request_span_and_one_attempt_span_with_genai_attributes(gw: Gateway) -> None:
    gw.sink.clear()
    answer = gw.client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": PROMPT}])
    assert answer.choices[0].message.content == REPLY
    request, attempts = _one_request(gw)
    assert len(attempts) == 1
    (attempt,) = attempts
    a, r = attempt["attributes"], request["attributes"]
    # the attempt: the GenAI inference span of the upstream call
    assert attempt["name"] == "chat m-a"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == a["gen_ai.system"] == "openai"
    assert a["gen_ai.request.model"] == "m-a"
    assert a["gen_ai.response.model"] == "m-a"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == answer.usage.prompt_tokens  # type: ignore[union-attr]
    assert a["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens  # type: ignore[union-attr]
    assert a["skyrelay.target"] == "a" and a["skyrelay.attempt"] == 1
    assert a["skyrelay.retry"] is False
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == gw.up.port
    assert attempt["status"] == "UNSET"
    # the request: the gateway's server span, with tenant, route and target
    assert request["name"] == "chat chat"
    assert r["skyrelay.tenant"] == "acme" and r["skyrelay.route"] == "chat"
    assert r["skyrelay.target"] == "a" and r["skyrelay.attempts"] == 1
    assert r["gen_ai.request.model"] == "chat" and r["gen_ai.response.model"] == "m-a"
    assert r["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens  # type: ignore[union-attr]
    assert r["http.response.status_code"] == 200
    assert request["resource"]["service.name"] == "skyrelay-gateway"
    # privacy by default: neither the prompt nor the completion is on any span
    spans = [request, attempt]
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
    assert "zebras" not in _all_values(spans) and "confidential" not in _all_values(spans)


def test_a_fallback_shows_two_attempt_spans(gw: Gateway) -> None:
    gw.sink.clear()
    gw.up.fault("500", model="m-b")
    answer = gw.client.chat.completions.with_raw_response.create(
        model="pair", messages=[{"role": "user", "content": "hi"}])
    assert answer.headers["x-skyrelay-attempts"] == "2"
    request, attempts = _one_request(gw)
    assert [s["attributes"]["skyrelay.target"] for s in attempts] == ["b", "c"]
    failed, served = attempts
    assert failed["status"] == "ERROR"
    assert failed["attributes"]["error.type"] == "server"
    assert failed["attributes"]["skyrelay.attempt"] == 1
    assert "gen_ai.usage.input_tokens" not in failed["attributes"]
    assert served["status"] == "UNSET" and served["attributes"]["skyrelay.attempt"] == 2
    assert served["attributes"]["gen_ai.request.model"] == "m-c"
    assert request["attributes"]["skyrelay.attempts"] == 2
    assert request["attributes"]["skyrelay.target"] == "c"
    assert request["attributes"]["gen_ai.response.model"] == "m-c"


def test_a_retry_of_the_same_target_is_its_own_attempt_span(gw: Gateway) -> None:
    gw.sink.clear()
    gw.up.fault("500", model="m-b")
    gw.client.chat.completions.create(model="again",
                                      messages=[{"role": "user", "content": "hi"}])
    request, attempts = _one_request(gw)
    assert [(s["attributes"]["skyrelay.target"], s["attributes"]["skyrelay.retry"],
             s["status"]) for s in attempts] == [("b", False, "ERROR"), ("b", True, "UNSET")]
    assert request["attributes"]["skyrelay.attempts"] == 2


def test_the_clients_traceparent_is_honoured_and_each_attempt_goes_upstream(
        gw: Gateway) -> None:
    gw.sink.clear()
    gw.up.requests.clear()
    gw.client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}],
        extra_headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01",
                       "tracestate": "vendor=abc"})
    request, (attempt,) = _one_request(gw)
    assert request["trace_id"] == CLIENT_TRACE
    assert request["parent_span_id"] == CLIENT_SPAN
    (sent,) = [r for r in gw.up.requests if r["path"] == "/v1/chat/completions"]
    assert sent["headers"]["traceparent"] == f"00-{CLIENT_TRACE}-{attempt['span_id']}-01"
    assert sent["headers"]["tracestate"] == "vendor=abc"


def test_an_unsampled_client_trace_records_nothing_but_still_propagates(gw: Gateway) -> None:
    gw.sink.clear()
    gw.up.requests.clear()
    gw.client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}],
        extra_headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00"})
    gw.flush()
    assert gw.sink.spans == []  # ParentBased: the caller decided not to sample
    (sent,) = [r for r in gw.up.requests if r["path"] == "/v1/chat/completions"]
    assert sent["headers"]["traceparent"].startswith(f"00-{CLIENT_TRACE}-")
    assert sent["headers"]["traceparent"].endswith("-00")


def test_a_stream_attempt_span_ends_with_the_stream_and_its_usage(gw: Gateway) -> None:
    gw.sink.clear()
    chunks = list(gw.client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": PROMPT}], stream=True,
        stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert usage is not None
    request, (attempt,) = _one_request(gw)
    a = attempt["attributes"]
    assert a["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.response.model"] == "m-a"
    assert attempt["end"] >= attempt["start"] and request["end"] >= attempt["end"]
    assert request["attributes"]["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert "gen_ai.output.messages" not in a
    assert "zebras" not in _all_values([request, attempt])


def test_a_refused_request_is_an_error_span_without_attempts(gw: Gateway) -> None:
    gw.sink.clear()
    with pytest.raises(openai.NotFoundError):
        gw.client.chat.completions.create(model="nope",
                                          messages=[{"role": "user", "content": "hi"}])
    request, attempts = _one_request(gw)
    assert attempts == []
    assert request["attributes"]["http.response.status_code"] == 404
    assert request["attributes"]["error.type"] == "model_not_found"
    assert request["status"] == "UNSET"  # a 4xx is the client's error, not the server's


def test_log_prompts_puts_prompt_and_completion_text_on_the_attempt() -> None:
    g = Gateway(log_prompts=True)
    try:
        g.client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": PROMPT}])
        _, (attempt,) = _one_request(g)
        a = attempt["attributes"]
        assert PROMPT in a["gen_ai.input.messages"] and '"role":"user"' in a[
            "gen_ai.input.messages"]
        assert REPLY in a["gen_ai.output.messages"]
        g.sink.clear()
        list(g.client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": PROMPT}], stream=True))
        _, (streamed,) = _one_request(g)
        assert REPLY in streamed["attributes"]["gen_ai.output.messages"]
    finally:
        g.close()


def test_off_by_default_nothing_traced_and_no_traceparent_upstream() -> None:
    g = Gateway(log_prompts=False, traced=False)
    try:
        assert g.app.tracing is None and g.app.router.tracing is None
        g.client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"})
        (sent,) = [r for r in g.up.requests if r["path"] == "/v1/chat/completions"]
        assert "traceparent" not in sent["headers"]
        assert g.sink.requests == 0
    finally:
        g.close()


def test_a_bedrock_attempt_is_aws_bedrock_and_carries_an_unsigned_traceparent(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTRACINGTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    model = "us.anthropic.claude-sonnet-4-v1:0"
    with BedrockUpstream() as up, OtlpReceiver() as sink:
        data = base_config_dict(
            {"br": {"cloud": "bedrock", "endpoint": up.url, "model": model}},
            {"chat": {"targets": ["br"]}},
            tenants={"acme": {"api_key": {"env": "T_KEY"}, "routes": ["chat"],
                              "classification": "public"}})
        app = build_app(GatewayConfig.from_dict(data), probe_interval=0, ops=ops_for_tests(),
                        environ={"T_KEY": KEY,
                                 "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url})  # + /v1/traces
        server = ServerThread(app).start()
        try:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0)
            client.chat.completions.create(model="chat",
                                           messages=[{"role": "user", "content": "hi"}])
            assert app.tracing is not None and app.tracing.force_flush(10_000)
            (attempt,) = sink.wait_for(1, kind="CLIENT")
        finally:
            server.stop()
    assert attempt["name"] == f"chat {model}"
    assert attempt["attributes"]["gen_ai.provider.name"] == "aws.bedrock"
    assert attempt["attributes"]["gen_ai.response.finish_reasons"] == ("stop",)
    (headers,) = up.headers
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", attempt["trace_id"], attempt["span_id"])
    assert int(flags, 16) & 1  # sampled (the SDK may add W3C level 2's random-id bit)
    # added after SigV4 signing: not among the signed headers, so the signature holds
    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "host" in signed and "traceparent" not in signed
