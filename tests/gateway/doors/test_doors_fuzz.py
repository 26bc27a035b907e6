"""Hostile bodies for the Responses and Messages doors: whatever JSON object arrives,
parsing either builds a request or answers a 400 naming a field, and the decision tables
decide every field on every target kind without raising; never another exception (which
the server would answer as a 500)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from skyrelay.gateway.config import TargetConfig, TargetPrice
from skyrelay.gateway.doors.anthropic_messages import DOOR as MESSAGES_DOOR
from skyrelay.gateway.doors.openai_responses import DOOR as RESPONSES_DOOR
from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.hub import fields
from skyrelay.gateway.hub.request import PathParams

JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2)
                    | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(
                        ["type", "role", "content", "text", "name", "call_id", "arguments",
                         "output", "image_url", "format", "effort", "summary", "x"]),
                        inner, max_size=4), max_leaves=12)
RESPONSES_KEYS = ["model", "input", "instructions", "tools", "tool_choice", "text",
                  "reasoning", "stream", "store", "truncation", "stream_options",
                  "include", "metadata", "previous_response_id", "max_output_tokens"]
MESSAGES_KEYS = ["model", "max_tokens", "messages", "system", "stream", "tools",
                 "temperature", "stop_sequences", "metadata", "thinking"]
TARGETS = [TargetConfig(key=f"{cloud}:{model}", cloud=cloud, kind="chat", region="us-east-1",
                        model=model, endpoint="http://127.0.0.1:1", price=TargetPrice(1, 1),
                        processing=frozenset({"*"}), capabilities=MappingProxyType({}),
                        api=api)
           for cloud, model, api in [("bedrock", "amazon.nova-pro-v1:0", ""),
                                     ("bedrock", "us.anthropic.claude-x-v1:0", ""),
                                     ("bedrock", "openai.gpt-oss-20b-1:0", "openai"),
                                     ("azure", "dep", ""), ("openai", "llama", "")]]


def bodies(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), JSON, max_size=6)


def check(door: Any, body: dict[str, Any]) -> None:
    try:
        request = door.parse(body, PathParams())
    except GatewayError as err:
        assert err.status == 400 and err.param is not None
        return
    for target in TARGETS:
        err = fields.refusal(door.name, request.native_body(), target)
        assert err is None or (err.status == 400 and err.param)


@given(bodies(RESPONSES_KEYS))
def test_responses_door_never_fails_otherwise(body: dict[str, Any]) -> None:
    check(RESPONSES_DOOR, body)


@given(bodies(RESPONSES_KEYS).map(lambda b: {**b, "model": "r", "input": b.get("input")}))
def test_responses_door_with_a_model(body: dict[str, Any]) -> None:
    check(RESPONSES_DOOR, body)


@given(bodies(MESSAGES_KEYS).map(lambda b: {**b, "model": "r", "max_tokens": 5}))
def test_messages_door_never_fails_otherwise(body: dict[str, Any]) -> None:
    check(MESSAGES_DOOR, body)
