"""The hub's request model, usage validation and the field decision table's mechanics."""

from __future__ import annotations

import logging
from types import MappingProxyType

import pytest

from skyrelay.gateway.config import TargetConfig, TargetPrice
from skyrelay.gateway.hub import fields
from skyrelay.gateway.hub.events import NativeEvent, usage_of_event
from skyrelay.gateway.hub.request import API_CHAT, API_RESPONSES, Request
from skyrelay.gateway.hub.response import MAX_TOKENS, Result, Usage


def target(cloud: str = "bedrock", api: str = "", **caps: object) -> TargetConfig:
    return TargetConfig(key=f"{cloud}:t", cloud=cloud, kind="chat", region="us-east-1",
                        model="m-1", endpoint="http://127.0.0.1:1", price=TargetPrice(1, 1),
                        processing=frozenset({"us-east-1"}),
                        capabilities=MappingProxyType(dict(caps)), api=api)


def test_native_body_is_the_canonical_body_unless_the_door_kept_its_own() -> None:
    body = {"model": "r", "messages": []}
    assert Request("chat", API_CHAT, "r", body).native_body() is body
    native = {"model": "r", "input": "hi"}
    req = Request("chat", API_RESPONSES, "r", body, native=native)
    assert req.native_body() is native and req.route_kind == "chat"


def test_usage_is_validated_once_and_clamped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "skyrelay.gateway.billing"):
        usage = Usage.parse({"prompt_tokens": 12.4, "completion_tokens": -3,
                             "prompt_tokens_details": {"cached_tokens": MAX_TOKENS + 5}},
                            target="hub-test-a")
    assert usage == Usage(12, 0, MAX_TOKENS)
    assert "hub-test-a" in caplog.text
    assert Usage.parse({"prompt_tokens": "x", "completion_tokens": None},
                       target="hub-test-b") is None
    assert Usage.parse(None, target="t") is None
    # the edges of the plain-integer fast path: a bool is not a count, the bounds are kept
    assert Usage.parse({"prompt_tokens": True, "completion_tokens": MAX_TOKENS},
                       target="hub-test-c") == Usage(None, MAX_TOKENS)
    assert Usage.parse({"prompt_tokens": 0, "completion_tokens": MAX_TOKENS + 1},
                       target="hub-test-d") == Usage(0, MAX_TOKENS)
    # an embeddings answer has no completion tokens: they count as zero
    assert Usage.parse({"prompt_tokens": 4}, target="t", embeddings=True) == Usage(4, 0)


def test_result_and_event_usage() -> None:
    assert Result.of({"usage": {"prompt_tokens": 1}}, API_CHAT).usage == {"prompt_tokens": 1}
    assert Result.of({"usage": "bad"}, API_CHAT).usage is None
    assert usage_of_event({"choices": [], "usage": {"prompt_tokens": 2}}) == {
        "prompt_tokens": 2}
    assert usage_of_event(NativeEvent(API_RESPONSES, "x", {}, usage={"a": 1})) == {"a": 1}


def test_target_kinds() -> None:
    assert fields.target_kind(target("bedrock")) == "bedrock"
    assert fields.target_kind(target("bedrock", api="openai")) == "bedrock_openai"
    assert fields.target_kind(target("azure")) == "azure_openai"
    assert fields.target_kind(target("openai")) == "openai_compatible"


def test_a_refusal_names_the_field_the_target_and_the_reason() -> None:
    err = fields.refusal("openai_chat", {"model": "r", "n": 3}, target("bedrock"))
    assert err is not None and err.status == 400 and err.param == "n"
    assert "bedrock:t" in err.message and "one choice" in err.message
    # the default value changes nothing: translated (no refusal)
    assert fields.refusal("openai_chat", {"n": 1, "logprobs": False}, target()) is None
    # null means "not given"
    assert fields.refusal("openai_chat", {"seed": None}, target()) is None
    # the same field passes through to a target that speaks the API
    assert fields.refusal("openai_chat", {"n": 3, "seed": 1}, target("azure")) is None


def test_unknown_fields_are_refused_where_translated_and_passed_where_spoken() -> None:
    err = fields.refusal("openai_chat", {"frobnicate": 1}, target())
    assert err is not None and err.param == "frobnicate"
    assert fields.refusal("openai_chat", {"frobnicate": 1}, target("openai")) is None


def test_capability_cases_follow_the_catalog() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}
    assert fields.refusal("openai_chat", {"response_format": schema},
                          target(structured_output=True)) is None
    err = fields.refusal("openai_chat", {"response_format": schema}, target())
    assert err is not None and err.param == "response_format"


def test_register_checks_the_kind_and_the_fast_path() -> None:
    with pytest.raises(ValueError, match="unknown target kind"):
        fields.register("x", "nowhere", {}, unknown=fields.refuse("r"))
    tbl = fields.table("openai_chat", "azure_openai")
    assert tbl is not None and tbl.never_refuses
    bedrock = fields.table("openai_chat", "bedrock")
    assert bedrock is not None and not bedrock.never_refuses
