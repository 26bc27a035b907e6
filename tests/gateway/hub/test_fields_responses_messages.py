"""One decision test per field of the Responses and Anthropic Messages doors, per target
kind: translated, passed through or refused (400 naming the field, the target and why).

Every field of both tables must have a row here (the completeness test fails otherwise),
so a field cannot be added to a door without a test of what happens to it. Translated
fields are also checked to land in the canonical chat body the translation builds.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from skyrelay.gateway.config import TargetConfig, TargetPrice
from skyrelay.gateway.doors import anthropic_messages, responses_input
from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.hub import fields
from skyrelay.gateway.hub.fields_messages import MESSAGES
from skyrelay.gateway.hub.fields_responses import RESPONSES
from skyrelay.gateway.hub.request import API_MESSAGES, API_RESPONSES

KINDS = ("bedrock", "openai_compatible", "azure_openai", "bedrock_openai")
T, P, R = "translate", "passthrough", "refuse"


def target(kind: str, model: str = "amazon.nova-pro-v1:0", **caps: Any) -> TargetConfig:
    cloud = {"bedrock": "bedrock", "bedrock_openai": "bedrock", "azure_openai": "azure",
             "openai_compatible": "openai"}[kind]
    return TargetConfig(key=f"{kind}:t", cloud=cloud, kind="chat", region="us-east-1",
                        model=model, endpoint="http://127.0.0.1:1", price=TargetPrice(1, 1),
                        processing=frozenset({"aws:us-east-1"}),
                        capabilities=MappingProxyType(dict(caps)),
                        api="openai" if kind == "bedrock_openai" else "")


SCHEMA = {"type": "json_schema", "name": "x", "schema": {"type": "object"}}
FN = {"type": "function", "name": "f", "parameters": {"type": "object"}}
# field, value, then the action on bedrock, openai_compatible, azure_openai, bedrock_openai
RESPONSES_ROWS: list[tuple[str, Any, str, str, str, str]] = [
    ("model", "route", T, T, T, T),
    ("input", "hi", T, T, P, P),
    ("input", [{"type": "reasoning", "summary": []}], R, R, P, P),
    ("input", [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}],
     R, R, P, P),
    ("instructions", "be brief", T, T, P, P),
    ("tools", [FN], T, T, P, P),
    ("tools", [{"type": "web_search"}], R, R, P, P),
    ("tool_choice", "required", T, T, P, P),
    ("tool_choice", {"type": "file_search"}, R, R, P, P),
    ("text", {"format": {"type": "text"}}, T, T, P, P),
    ("text", {"format": SCHEMA}, R, T, P, P),
    ("text", {"verbosity": "low"}, R, T, P, P),
    ("max_output_tokens", 100, T, T, P, P),
    ("temperature", 0.2, T, T, P, P),
    ("top_p", 0.9, T, T, P, P),
    ("parallel_tool_calls", True, T, T, P, P),
    ("parallel_tool_calls", False, R, T, P, P),
    ("metadata", {"team": "a"}, T, T, P, P),
    ("user", "u-1", T, T, P, P),
    ("safety_identifier", "s-1", T, T, P, P),
    ("prompt_cache_key", "k", T, T, P, P),
    ("service_tier", "flex", T, T, P, P),
    ("service_tier", "scale", R, T, P, P),
    ("reasoning", {"effort": "low"}, R, T, P, P),
    ("reasoning", {"summary": "auto"}, R, R, P, P),
    ("stream", True, T, T, P, P),
    ("stream_options", {"include_obfuscation": False}, T, T, P, P),
    ("stream_options", {"include_obfuscation": True}, R, R, P, P),
    ("truncation", "disabled", T, T, P, P),
    ("truncation", "auto", R, R, P, P),
    ("store", False, T, T, P, P),
    ("store", True, R, R, R, R),
    ("include", [], T, T, P, P),
    ("include", ["reasoning.encrypted_content"], R, R, P, P),
    ("top_logprobs", 0, T, T, P, P),
    ("top_logprobs", 3, R, R, P, P),
    ("max_tool_calls", 2, R, R, P, P),
    ("prompt", {"id": "pmpt_1"}, R, R, P, P),
    ("context_management", [{"type": "compaction"}], R, R, P, P),
    ("moderation", {"model": "m"}, R, R, P, P),
    ("image", {"size": "auto"}, R, R, P, P),
    ("access_programs", {"x": 1}, R, R, P, P),
    ("prompt_cache_options", {"mode": "explicit"}, R, R, P, P),
    ("prompt_cache_retention", "24h", R, R, P, P),
    ("previous_response_id", "resp_1", R, R, R, R),
    ("conversation", "conv_1", R, R, R, R),
    ("background", True, R, R, R, R),
    ("background_options", {"x": 1}, R, R, R, R),
    ("not_a_field", 1, R, R, P, P),
]


@pytest.mark.parametrize(("field", "value", *KINDS), RESPONSES_ROWS,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(RESPONSES_ROWS)])
def test_responses_field_decisions(field: str, value: Any, bedrock: str,
                                   openai_compatible: str, azure_openai: str,
                                   bedrock_openai: str) -> None:
    expected = dict(zip(KINDS, (bedrock, openai_compatible, azure_openai, bedrock_openai),
                        strict=True))
    for kind, action in expected.items():
        tgt = target(kind)
        tbl = fields.table(RESPONSES, kind)
        assert tbl is not None
        rule = tbl.rules.get(field)
        decided = rule.decide(value, tgt) if rule is not None else tbl.unknown
        assert decided.action == action, (kind, field, value, decided)
        err = fields.refusal(RESPONSES, {field: value}, tgt)
        if action == R:
            assert isinstance(err, GatewayError) and err.status == 400
            assert err.param == field and tgt.key in err.message, err.message
        else:
            assert err is None, (kind, field, err and err.message)


def test_structured_output_translates_where_the_catalog_says_so() -> None:
    capable = target("bedrock", structured_output=True)
    assert fields.refusal(RESPONSES, {"text": {"format": SCHEMA}}, capable) is None
    chat = responses_input.to_chat({"model": "r", "input": "hi", "text": {"format": SCHEMA}})
    assert chat["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object"}}}


def test_translated_fields_land_in_the_chat_body() -> None:
    body = {"model": "r", "instructions": "sys", "input": "hi", "max_output_tokens": 9,
            "temperature": 0.1, "top_p": 0.5, "parallel_tool_calls": True, "user": "u",
            "metadata": {"a": "b"}, "tools": [FN], "tool_choice": {"type": "function",
                                                                   "name": "f"},
            "reasoning": {"effort": "low"}, "stream": True, "service_tier": "flex",
            "text": {"format": {"type": "json_object"}, "verbosity": "low"}}
    chat = responses_input.to_chat(body)
    assert chat["messages"] == [{"role": "system", "content": "sys"},
                                {"role": "user", "content": "hi"}]
    assert (chat["max_completion_tokens"], chat["temperature"], chat["top_p"]) == (9, 0.1, 0.5)
    assert chat["tools"] == [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object"}}}]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["reasoning_effort"] == "low" and chat["service_tier"] == "flex"
    assert chat["response_format"] == {"type": "json_object"} and chat["verbosity"] == "low"
    assert chat["stream_options"] == {"include_usage": True}
    assert chat["user"] == "u" and chat["parallel_tool_calls"] is True


def test_item_references_need_a_store_and_are_refused_at_the_door() -> None:
    with pytest.raises(GatewayError) as caught:
        responses_input.to_chat({"input": [{"type": "item_reference", "id": "msg_1"}]})
    assert caught.value.param == "input[0].type"


CLAUDE = "eu.anthropic.claude-sonnet-4-20250514-v1:0"
MESSAGES_FIELDS = {**anthropic_messages.PASSTHROUGH, **anthropic_messages.GATEWAY}


@pytest.mark.parametrize("field", sorted(MESSAGES_FIELDS))
def test_messages_fields_pass_to_claude_and_are_refused_elsewhere(field: str) -> None:
    claude, nova = target("bedrock", CLAUDE), target("bedrock")
    expected = T if field in anthropic_messages.GATEWAY else P
    rule = fields.decision(MESSAGES, "bedrock", field)
    assert rule is not None
    assert rule.decide(1, claude).action == expected
    assert fields.refusal(MESSAGES, {field: 1}, claude) is None
    err = fields.refusal(MESSAGES, {field: 1}, nova)
    assert err is not None and err.param == field and "not Claude" in err.message
    for kind in ("openai_compatible", "azure_openai", "bedrock_openai"):
        refused = fields.refusal(MESSAGES, {field: 1}, target(kind))
        assert refused is not None and refused.code == "unsupported_api"


@pytest.mark.parametrize("field", sorted([*anthropic_messages.REFUSED, "not_a_field"]))
def test_messages_fields_bedrock_has_no_place_for_are_refused(field: str) -> None:
    err = fields.refusal(MESSAGES, {field: {}}, target("bedrock", CLAUDE))
    assert err is not None and err.param == field and err.status == 400


def test_every_field_has_a_decision_test() -> None:
    responses_fields = {r[0] for r in RESPONSES_ROWS} - {"not_a_field"}
    for kind in KINDS:
        tbl = fields.table(RESPONSES, kind)
        assert tbl is not None and set(tbl.rules) == responses_fields, kind
    messages_table = fields.table(MESSAGES, "bedrock")
    assert messages_table is not None
    assert set(messages_table.rules) == set(MESSAGES_FIELDS) | set(anthropic_messages.REFUSED) \
        | {"output_config"}


@pytest.mark.parametrize(("model", "caps", "value", "param"), [
    # AWS: InvokeModel with Claude takes structured outputs as output_config.format, for the
    # models the catalog marks structured_output (Sonnet 4.5, Haiku 4.5, ...).
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", {"structured_output": True},
     {"format": {"type": "json_schema", "schema": {"type": "object"}}}, None),
    ("anthropic.claude-sonnet-4-20250514-v1:0", {},
     {"format": {"type": "json_schema", "schema": {"type": "object"}}}, "output_config"),
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", {"structured_output": True},
     {"format": {"type": "json_schema"}, "effort": "high"}, "output_config"),
    ("amazon.nova-pro-v1:0", {"structured_output": True}, {"format": {}}, "output_config"),
])
def test_output_config_passes_to_claude_with_structured_outputs_only(
        model: str, caps: dict[str, Any], value: Any, param: str | None) -> None:
    err = fields.refusal(MESSAGES, {"output_config": value}, target("bedrock", model, **caps))
    assert (err.param if err else None) == param


def test_speaks_is_per_target_for_claude() -> None:
    assert API_MESSAGES in fields.speaks(target("bedrock", CLAUDE))
    assert API_MESSAGES not in fields.speaks(target("bedrock"))
    assert fields.speaks(target("bedrock_openai")) >= {API_RESPONSES}
    assert API_MESSAGES not in fields.speaks(target("bedrock_openai",
                                                    "openai.gpt-oss-120b-1:0"))
