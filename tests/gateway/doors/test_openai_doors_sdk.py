"""The OpenAI doors through the official ``openai`` SDK against the gateway on loopback and
the project's local upstreams (OpenAI/Azure wire and Bedrock Converse / InvokeModel):
chat, ``chat.completions.parse`` with a pydantic model, stream helpers, embeddings (base64,
dimensions), ``AzureOpenAI`` in the classic deployment style and the v1 style, and the
refusals the field table decides (param named, no upstream called)."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import openai
import pydantic
import pytest

from skyrelay.gateway.serve import build_app
from skyrelay.gateway.testing.bedrock_upstream import BedrockUpstream
from skyrelay.gateway.testing.harness import ServerThread, base_config, ops_for_tests
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

KEY = "sk-doors-0123456789"
MSG = [{"role": "user", "content": "hello"}]


class Answer(pydantic.BaseModel):
    city: str
    population: int


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    mp.delenv("AWS_PROFILE", raising=False)
    mp.setenv("SKYRELAY_AZURE_KEY_ACCT", "azure-upstream-key")
    with OpenAIUpstream(max_lifetime=120.0) as oai, BedrockUpstream(max_lifetime=120.0) as br:
        cfg = base_config(
            {"oai": {"endpoint": oai.url + "/v1", "model": "gpt-up"},
             "az": {"cloud": "azure", "endpoint": oai.url + "/", "model": "dep-1",
                    "account": "acct"},
             "br": {"cloud": "bedrock", "endpoint": br.url, "model": "anthropic.claude-x"},
             "br-so": {"cloud": "bedrock", "endpoint": br.url, "model": "anthropic.claude-y",
                       "capabilities": {"structured_output": True}},
             "titan": {"cloud": "bedrock", "kind": "embedding", "endpoint": br.url,
                       "model": "amazon.titan-embed-text-v2:0",
                       "capabilities": {"embedding_dimensions": [256, 512, 1024]}},
             "emb": {"kind": "embedding", "endpoint": oai.url + "/v1", "model": "emb-up"}},
            {"chat": {"targets": ["oai"]}, "azure": {"targets": ["az"]},
             "bedrock": {"targets": ["br"]}, "bedrock-json": {"targets": ["br-so"]},
             "mixed": {"targets": ["br", "oai"]},
             "titan": {"targets": ["titan"], "kind": "embedding"},
             "embed": {"targets": ["emb"], "kind": "embedding"}},
            tenants={"t": {"api_key": {"env": "DOORS_KEY"},
                           "routes": ["chat", "azure", "bedrock", "bedrock-json", "mixed",
                                      "titan", "embed"], "classification": "public"}})
        app = build_app(cfg, environ={"DOORS_KEY": KEY}, probe_interval=0,
                        ops=ops_for_tests())
        server = ServerThread(app).start()
        try:
            yield {"url": server.url, "oai": oai, "br": br}
        finally:
            server.stop()
    mp.undo()


def client(stack: dict[str, Any], **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack["url"] + "/v1", api_key=KEY, max_retries=0, **kw)


def test_chat_and_stream_helpers(stack: dict[str, Any]) -> None:
    c = client(stack)
    out = c.chat.completions.create(model="bedrock", messages=MSG)  # type: ignore[arg-type]
    assert out.choices[0].message.content == "Hello from Bedrock"
    with c.chat.completions.stream(model="bedrock", messages=MSG,  # type: ignore[arg-type]
                                   stream_options={"include_usage": True}) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from Bedrock"
    assert final.usage is not None and final.usage.completion_tokens > 0


def test_parse_with_a_pydantic_model_on_bedrock_structured_output(
        stack: dict[str, Any]) -> None:
    br: BedrockUpstream = stack["br"]
    before = len(br.bodies)
    parsed = client(stack).chat.completions.parse(
        model="bedrock-json", messages=MSG, response_format=Answer)  # type: ignore[arg-type]
    answer = parsed.choices[0].message.parsed
    assert isinstance(answer, Answer) and answer.population == 1
    sent = br.bodies[before]
    assert sent["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["name"] == "Answer"


def test_parse_is_refused_where_the_model_has_no_structured_output(
        stack: dict[str, Any]) -> None:
    br: BedrockUpstream = stack["br"]
    before = len(br.bodies)
    with pytest.raises(openai.BadRequestError) as info:
        client(stack).chat.completions.parse(model="bedrock", messages=MSG,  # type: ignore[arg-type]
                                             response_format=Answer)
    body: Any = info.value.body
    assert body["param"] == "response_format" and "bedrock:" not in body["message"][:1]
    assert "br" in body["message"] and "structured output" in body["message"]
    assert len(br.bodies) == before  # no upstream was called


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"n": 2}, "n"), ({"logprobs": True}, "logprobs"), ({"seed": 3}, "seed"),
    ({"presence_penalty": 0.4}, "presence_penalty"), ({"logit_bias": {"1": 2}}, "logit_bias"),
    ({"functions": [{"name": "f", "parameters": {}}]}, "functions"),
    ({"parallel_tool_calls": False, "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object"}}}]}, "parallel_tool_calls"),
    ({"reasoning_effort": "high"}, "reasoning_effort"),
    ({"modalities": ["text", "audio"]}, "modalities"),
])
def test_refused_fields_name_the_param(stack: dict[str, Any], kwargs: dict[str, Any],
                                       param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(stack).chat.completions.create(model="bedrock", messages=MSG,  # type: ignore[arg-type]
                                              **kwargs)
    assert info.value.body["param"] == param  # type: ignore[index]
    assert info.value.body["code"] == "unsupported_parameter"  # type: ignore[index]


def test_a_mixed_route_serves_a_refused_field_from_the_target_that_speaks_it(
        stack: dict[str, Any]) -> None:
    raw = client(stack).chat.completions.with_raw_response.create(
        model="mixed", messages=MSG, n=2)  # type: ignore[arg-type]
    assert raw.headers["x-skyrelay-target"] == "oai"
    assert json.loads(stack["oai"].requests[-1]["body"])["n"] == 2  # passed through


def test_an_empty_user_message_gets_a_message_that_says_so(stack: dict[str, Any]) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(stack).chat.completions.create(
            model="bedrock", messages=[{"role": "user", "content": ""}])
    body: Any = info.value.body
    assert body["param"] == "messages[0].content"
    assert "no content" in body["message"] and "start with" not in body["message"]


def test_embeddings_base64_and_dimensions_on_bedrock(stack: dict[str, Any]) -> None:
    c = client(stack)
    out = c.embeddings.create(model="titan", input=["a b", "c"], dimensions=256)
    assert [len(d.embedding) for d in out.data] == [256, 256]  # the SDK decoded base64
    assert stack["br"].bodies[-1] == {"inputText": "c", "dimensions": 256}
    raw = c.embeddings.with_raw_response.create(model="titan", input="x",
                                                encoding_format="base64")
    data = raw.http_response.json()["data"][0]["embedding"]
    assert isinstance(data, str)
    assert struct.unpack("<4f", base64.b64decode(data)) == pytest.approx((0.1,) * 4)
    with pytest.raises(openai.BadRequestError) as info:
        c.embeddings.create(model="titan", input="x", dimensions=300)
    assert info.value.body["param"] == "dimensions"  # type: ignore[index]


def test_embeddings_pass_through(stack: dict[str, Any]) -> None:
    out = client(stack).embeddings.create(model="embed", input="hello world")
    assert out.data and out.usage.prompt_tokens > 0


def test_azure_openai_classic_deployment_paths(stack: dict[str, Any]) -> None:
    az = openai.AzureOpenAI(azure_endpoint=stack["url"], api_key=KEY,
                            api_version="2024-10-21", max_retries=0)
    out = az.chat.completions.create(model="azure", messages=MSG)  # type: ignore[arg-type]
    assert out.choices[0].message.content
    raw = az.embeddings.with_raw_response.create(model="embed", input="hi")
    assert raw.http_request.url.path == "/openai/deployments/embed/embeddings"
    assert raw.headers["x-request-id"]
    with az.chat.completions.stream(model="bedrock", messages=MSG) as stream:  # type: ignore[arg-type]
        assert stream.get_final_completion().choices[0].message.content == "Hello from Bedrock"


def test_azure_v1_style_base_url(stack: dict[str, Any]) -> None:
    # Azure's v1 data plane is used with the plain OpenAI client and base_url .../openai/v1/
    # (learn.microsoft.com/azure/foundry/openai/api-version-lifecycle)
    c = openai.OpenAI(base_url=stack["url"] + "/openai/v1/", api_key=KEY, max_retries=0)
    out = c.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    assert out.choices[0].message.content
    assert [m.id for m in c.models.list()][:1] == ["chat"]
    emb = c.embeddings.create(model="embed", input="x")
    assert emb.data


def test_unknown_deployment_path_is_404_and_wrong_method_405(stack: dict[str, Any]) -> None:
    import httpx
    r = httpx.post(stack["url"] + "/openai/deployments/nope/chat/completions?api-version=x",
                   headers={"api-key": KEY}, json={"messages": MSG})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert r.headers["x-request-id"]
    r = httpx.get(stack["url"] + "/openai/deployments/azure/chat/completions",
                  headers={"api-key": KEY})
    assert r.status_code == 405 and "POST" in r.headers["allow"]
    r = httpx.get(stack["url"] + "/v2/nothing")
    assert r.status_code == 404 and r.headers["x-request-id"]
