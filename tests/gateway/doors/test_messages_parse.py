"""The Messages door refuses malformed tool and system fields itself, with ``param`` naming
the field, instead of passing them to Bedrock (found by schemathesis: ``tools: [[null]]``
reached the upstream and came back as a 502)."""

from __future__ import annotations

from typing import Any

import pytest

from skyrelay.gateway.doors.anthropic_messages import parse_messages
from skyrelay.gateway.errors import GatewayError

VALID: dict[str, Any] = {"model": "claude", "max_tokens": 16,
                         "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("field", "value"), [
    ("tools", [[None, None]]),
    ("tools", [{"name": "ok", "input_schema": {}}, "not-a-tool"]),
    ("tools", {"name": "one"}),
    ("tool_choice", "auto"),
    ("tool_choice", []),
    ("system", [None]),
    ("system", 5),
    ("top_k", "40"),
    ("top_k", True),
])
def test_malformed_fields_are_a_400_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(GatewayError) as caught:
        parse_messages({**VALID, field: value})
    assert caught.value.status == 400
    assert caught.value.param == field


@pytest.mark.parametrize(("field", "value"), [
    ("tools", [{"name": "get_weather", "input_schema": {"type": "object"}}]),
    ("tool_choice", {"type": "auto"}),
    ("system", [{"type": "text", "text": "be brief"}]),
    ("system", "be brief"),
    ("top_k", 40),
])
def test_well_formed_fields_pass_unchanged(field: str, value: Any) -> None:
    assert parse_messages({**VALID, field: value})[field] == value
