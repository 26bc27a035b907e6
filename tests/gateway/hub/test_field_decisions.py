"""Every field decision of the OpenAI doors, checked against what the target really gets.

- translated on Bedrock: the Converse (or InvokeModel) body carries the field's meaning,
  and the body is valid for botocore's ``bedrock-runtime`` Converse input shape;
- passed through: the OpenAI-wire body sent to Azure / compatible servers holds the field
  unchanged;
- refused: a 400 whose ``param`` names the field and whose message names the target.

The docs table (docs/gateway-field-decisions.md) is generated from the same rules; a test
fails when it drifts.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from types import MappingProxyType
from typing import Any

import botocore.session
import orjson
import pytest
from botocore.validate import ParamValidator

from skyrelay.gateway.config import TargetConfig, TargetPrice
from skyrelay.gateway.hub import fields, fields_doc
from skyrelay.gateway.providers.bedrock_embeddings import encode, request_bodies
from skyrelay.gateway.providers.bedrock_translate import to_converse
from skyrelay.gateway.providers.openai_compat import OpenAICompatProvider

REPO = Path(__file__).resolve().parents[3]
USER = [{"role": "user", "content": "hi"}]
SCHEMA = {"type": "json_schema", "json_schema": {
    "name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}

_MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")
_CONVERSE = _MODEL.operation_model("Converse").input_shape


def target(cloud: str = "bedrock", **caps: Any) -> TargetConfig:
    return TargetConfig(key=f"{cloud}:us/m", cloud=cloud, kind="chat", region="us-east-1",
                        model="anthropic.claude-x", endpoint="http://127.0.0.1:1",
                        price=TargetPrice(1, 1), processing=frozenset({"*"}),
                        capabilities=MappingProxyType(dict(caps)))


def valid_converse(body: dict[str, Any]) -> dict[str, Any]:
    report = ParamValidator().validate({"modelId": "m", **body}, _CONVERSE)
    assert not report.has_errors(), report.generate_report()
    return body


# field -> (value, catalog capabilities, check of the Converse body) for translated cases
TRANSLATED: list[tuple[str, Any, dict[str, Any], Any]] = [
    ("model", "route", {}, lambda b: "modelId" not in b),  # the path carries the modelId
    ("messages", USER, {}, lambda b: b["messages"] == [{"role": "user",
                                                        "content": [{"text": "hi"}]}]),
    ("stream", True, {}, lambda b: "stream" not in b),  # ConverseStream is another path
    ("stream_options", {"include_usage": True}, {}, lambda b: "stream_options" not in b),
    ("max_tokens", 9, {}, lambda b: b["inferenceConfig"]["maxTokens"] == 9),
    ("max_completion_tokens", 8, {}, lambda b: b["inferenceConfig"]["maxTokens"] == 8),
    ("temperature", 0.5, {}, lambda b: b["inferenceConfig"]["temperature"] == 0.5),
    ("top_p", 0.9, {}, lambda b: b["inferenceConfig"]["topP"] == 0.9),
    ("stop", "END", {}, lambda b: b["inferenceConfig"]["stopSequences"] == ["END"]),
    ("tools", [TOOL], {}, lambda b: b["toolConfig"]["tools"][0]["toolSpec"]["name"] == "f"),
    ("tool_choice", "required", {},
     lambda b: b["toolConfig"]["toolChoice"] == {"any": {}}),
    ("parallel_tool_calls", True, {}, lambda b: "toolChoice" not in b.get("toolConfig", {})),
    ("response_format", {"type": "text"}, {}, lambda b: "outputConfig" not in b),
    ("response_format", SCHEMA, {"structured_output": True},
     lambda b: json.loads(b["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"])
     == SCHEMA["json_schema"]["schema"]),
    ("response_format", {"type": "json_object"}, {"structured_output": True},
     lambda b: b["outputConfig"]["textFormat"]["type"] == "json_schema"),
    ("n", 1, {}, lambda b: True),
    ("logprobs", False, {}, lambda b: True),
    ("presence_penalty", 0, {}, lambda b: True),
    ("frequency_penalty", 0.0, {}, lambda b: True),
    ("logit_bias", {}, {}, lambda b: True),
    ("modalities", ["text"], {}, lambda b: True),
    ("store", False, {}, lambda b: True),
    ("metadata", {"team": "search"}, {}, lambda b: b["requestMetadata"] == {"team": "search"}),
    ("user", "u-42", {}, lambda b: b["requestMetadata"] == {"user": "u-42"}),
    ("safety_identifier", "s-1", {}, lambda b: b["requestMetadata"] == {
        "safety_identifier": "s-1"}),
    ("prompt_cache_key", "k", {}, lambda b: True),
    ("service_tier", "flex", {}, lambda b: b["serviceTier"] == {"type": "flex"}),
    ("service_tier", "auto", {}, lambda b: "serviceTier" not in b),
]

REFUSED: list[tuple[str, Any, dict[str, Any]]] = [
    ("n", 2, {}), ("logprobs", True, {}), ("top_logprobs", 3, {}), ("seed", 7, {}),
    ("presence_penalty", 0.5, {}), ("frequency_penalty", 1, {}),
    ("logit_bias", {"50256": -100}, {}),
    ("functions", [{"name": "f"}], {}), ("function_call", "auto", {}),
    ("reasoning_effort", "low", {}), ("modalities", ["text", "audio"], {}),
    ("audio", {"voice": "alloy", "format": "wav"}, {}), ("prediction", {"type": "content"}, {}),
    ("web_search_options", {}, {}), ("verbosity", "low", {}), ("store", True, {}),
    ("parallel_tool_calls", False, {}), ("response_format", SCHEMA, {}),
    ("response_format", {"type": "json_object"}, {"structured_output": False}),
    ("service_tier", "scale", {}), ("tools", [TOOL], {"tool_use": False}),
    ("a_field_from_the_future", 1, {}),
]


@pytest.mark.parametrize(("field", "value", "caps", "check"), TRANSLATED,
                         ids=[f"{f}={v!r}"[:60] for f, v, _, _ in TRANSLATED])
def test_translated_on_bedrock(field: str, value: Any, caps: dict[str, Any],
                               check: Any) -> None:
    extra = {"tools": [TOOL]} if field == "tool_choice" else {}
    request = {"model": "route", "messages": USER, **extra, field: value}
    t = target(**caps)
    assert fields.refusal("openai_chat", request, t) is None
    rule = fields.decision("openai_chat", "bedrock", field)
    assert rule is not None and rule.decide(value, t).action == "translate"
    assert check(valid_converse(to_converse(request)))


@pytest.mark.parametrize(("field", "value", "caps"), REFUSED,
                         ids=[f"{f}={v!r}"[:60] for f, v, _ in REFUSED])
def test_refused_on_bedrock_names_field_target_and_reason(field: str, value: Any,
                                                          caps: dict[str, Any]) -> None:
    t = target(**caps)
    err = fields.refusal("openai_chat", {"model": "r", "messages": USER, field: value}, t)
    assert err is not None
    assert (err.status, err.param, err.code) == (400, field, "unsupported_parameter")
    assert t.key in err.message and "Amazon Bedrock" in err.message
    reason = err.message.split(": ", 1)[1]
    assert len(reason) > 10  # says why, not only that


CHAT_FIELDS = sorted(fields.table("openai_chat", "bedrock").rules)  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["azure_openai", "openai_compatible", "bedrock_openai"])
@pytest.mark.parametrize("field", CHAT_FIELDS)
def test_passed_through_to_targets_that_speak_chat(kind: str, field: str) -> None:
    tbl = fields.table("openai_chat", kind)
    assert tbl is not None
    rule = tbl.rules[field]
    cloud = {"azure_openai": "azure", "openai_compatible": "openai",
             "bedrock_openai": "bedrock"}[kind]
    t = target(cloud)
    if kind == "bedrock_openai":
        t = TargetConfig(**{**{s: getattr(t, s) for s in t.__slots__}, "api": "openai"})
    value: Any = {"x": 1} if field not in ("model", "stream") else "m"
    decision = rule.decide(value, t)
    if field in ("model", "stream_options", "stream"):
        assert decision.action in ("translate", "passthrough")
        return
    assert decision.action == "passthrough"
    if kind != "bedrock_openai":
        sent = orjson.loads(OpenAICompatProvider.chat_body(
            t, {"model": "r", "messages": USER, field: value}, False))
        assert sent[field] == value and sent["model"] == t.model


def test_every_door_lists_the_same_fields_for_every_kind() -> None:
    for door in ("openai_chat", "openai_embeddings"):
        kinds = {k: fields.table(door, k) for k in fields.TARGET_KINDS}
        assert all(v is not None for v in kinds.values()), door
        names = {k: set(v.rules) for k, v in kinds.items() if v is not None and v.rules}
        assert len({frozenset(n) for n in names.values()}) == 1, names


def emb_target(model: str, **caps: Any) -> TargetConfig:
    return TargetConfig(key="bedrock:us/e", cloud="bedrock", kind="embedding",
                        region="us-east-1", model=model, endpoint="http://127.0.0.1:1",
                        price=TargetPrice(1, 0), processing=frozenset({"*"}),
                        capabilities=MappingProxyType(dict(caps)))


TITAN = "amazon.titan-embed-text-v2:0"


def test_embeddings_dimensions_translated_where_the_catalog_lists_them() -> None:
    t = emb_target(TITAN, embedding_dimensions=[256, 512, 1024])
    request = {"model": "e", "input": ["a", "b"], "dimensions": 256}
    assert fields.refusal("openai_embeddings", request, t) is None
    assert request_bodies(TITAN, request) == [{"inputText": "a", "dimensions": 256},
                                              {"inputText": "b", "dimensions": 256}]
    err = fields.refusal("openai_embeddings", {**request, "dimensions": 300}, t)
    assert err is not None and err.param == "dimensions"
    cohere = emb_target("cohere.embed-english-v3")
    err = fields.refusal("openai_embeddings", request, cohere)
    assert err is not None and err.param == "dimensions"


def test_embeddings_base64_is_encoded_by_the_gateway() -> None:
    t = emb_target(TITAN)
    assert fields.refusal("openai_embeddings", {"encoding_format": "base64"}, t) is None
    text = encode([0.5, -1.25], "base64")
    assert isinstance(text, str)
    assert struct.unpack("<2f", base64.b64decode(text)) == (0.5, -1.25)
    assert encode([0.5], "float") == [0.5]


@pytest.mark.parametrize(("field", "value"), [("user", "u"), ("encoding_format", "int8"),
                                              ("something_else", 1)])
def test_embeddings_refused_on_bedrock(field: str, value: Any) -> None:
    err = fields.refusal("openai_embeddings", {field: value}, emb_target(TITAN))
    assert err is not None and err.param == field


def test_embeddings_fields_pass_through_to_azure() -> None:
    t = emb_target(TITAN)
    azure = TargetConfig(**{**{s: getattr(t, s) for s in t.__slots__}, "cloud": "azure"})
    assert fields.refusal("openai_embeddings", {"dimensions": 3, "user": "u",
                                                "encoding_format": "base64"}, azure) is None


def test_the_docs_table_is_generated_from_the_code() -> None:
    doc = REPO / "docs" / "gateway-field-decisions.md"
    assert doc.read_text(encoding="utf-8") == fields_doc.markdown(), \
        "docs/gateway-field-decisions.md is stale: run `make decision-table`"
    counts = fields_doc.counts()
    assert counts["cells"] == sum(len(t.rules) for _, _, t in fields.tables())
