"""The decision table of the OpenAI Responses door (``POST /v1/responses``).

Field list: the ``responses.create`` parameters of the official ``openai`` SDK
(``openai/types/responses/response_create_params.py``). Targets that speak Responses —
Azure OpenAI (v1: https://learn.microsoft.com/en-us/azure/foundry/openai/how-to/responses)
and Bedrock's OpenAI-compatible endpoint
(https://docs.aws.amazon.com/bedrock/latest/userguide/inference-responses-api.html) — get
the client's body with the target's model. Bedrock Converse and OpenAI-compatible chat
servers get the canonical chat body (:mod:`skyrelay.gateway.doors.responses_input`): a
field translated into a chat field is then decided by the chat door's row for that chat
field on the same target (a Responses ``text.format`` json_schema is refused on Bedrock
exactly where a chat ``response_format`` would be), and a value with no chat equivalent is
refused with the reason. State (``previous_response_id`` ...) is refused on every kind.

Example::

    fields.refusal("openai_responses", {"previous_response_id": "resp_1"}, target).param
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.doors import responses_input as conv
from skyrelay.gateway.hub.fields import (
    Case,
    Decision,
    Rule,
    decision,
    passthrough,
    refuse,
    register,
    target_kind,
    translate,
    value_in,
)
from skyrelay.gateway.hub.fields_openai import CHAT

RESPONSES = "openai_responses"

#: A Responses value -> the chat fields it becomes.
Convert = Callable[[Any], dict[str, Any]]


def _chat_refusal(field: str, convert: Convert | None, value: Any,
                  target: TargetConfig) -> str | None:
    """Why ``value`` cannot be translated for ``target``, or None."""
    reason = conv.problem(field, value)
    if reason is not None:
        return reason
    if convert is None:
        return None
    kind = target_kind(target)
    try:
        translated = convert(value)
    except Exception:  # a shape error: the door's parse answers it for every target
        return None
    for name, chat_value in translated.items():
        rule = decision(CHAT, kind, name)
        if rule is None or chat_value is None:
            continue
        verdict = rule.decide(chat_value, target)
        if verdict.action == "refuse":
            return f"it becomes the chat field `{name}`, which this target refuses: " \
                   f"{verdict.reason}"
    return None


@dataclass(frozen=True, slots=True)
class ViaChat(Rule):
    """Translated into chat fields, then decided by the chat door's rules for them."""

    field: str = ""
    convert: Convert | None = None

    def decide(self, value: Any, target: TargetConfig) -> Decision:
        """Refuse with the specific reason when the value or its chat form cannot be
        served; else the rule's own decision."""
        reason = _chat_refusal(self.field, self.convert, value, target)
        return refuse(reason) if reason is not None else Rule.decide(self, value, target)


def _via(field: str, how: str, convert: Convert | None = None) -> ViaChat:
    def test(value: Any, target: TargetConfig) -> bool:
        return _chat_refusal(field, convert, value, target) is not None
    when = ("the value has no chat equivalent" if convert is None
            else "the value has no chat equivalent, or the chat door refuses its chat form "
                 "on this target")
    return ViaChat(translate(how), (Case(when, test, refuse(
        "named in the error: the part that does not translate, or the chat field's "
        "reason")),), field=field, convert=convert)


def _same(name: str) -> Convert:
    return lambda value: {name: value}


def _text(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    conv._text({"text": value}, out)
    return out


def _reasoning(value: Any) -> dict[str, Any]:
    return {"reasoning_effort": conv._reasoning(value)}


def _tools(value: Any) -> dict[str, Any]:
    return {"tools": conv._tools({"tools": value})}


def _tool_choice(value: Any) -> dict[str, Any]:
    return {"tool_choice": conv._tool_choice(value)}


_STATE = refuse(conv.STATE_REASON)
_NOT_FOR_CHAT = "the translated answer cannot carry it"

_TRANSLATED: dict[str, Rule] = {
    "model": Rule(translate("names the gateway route; the target's model is sent")),
    "input": _via("input", "items become chat messages (message, function_call, "
                           "function_call_output; input_text/output_text/input_image parts)"),
    "instructions": Rule(translate("becomes the first system message")),
    "tools": _via("tools", "function tools become chat tools", _tools),
    "tool_choice": _via("tool_choice", "auto | none | required | a function", _tool_choice),
    "text": _via("text", "text.format becomes response_format, text.verbosity becomes "
                         "verbosity", _text),
    "max_output_tokens": _via("max_output_tokens", "becomes max_completion_tokens",
                              _same("max_completion_tokens")),
    "temperature": _via("temperature", "sent as temperature", _same("temperature")),
    "top_p": _via("top_p", "sent as top_p", _same("top_p")),
    "parallel_tool_calls": _via("parallel_tool_calls", "sent as parallel_tool_calls",
                                _same("parallel_tool_calls")),
    "metadata": _via("metadata", "sent as the chat metadata and echoed in the response",
                     _same("metadata")),
    "user": _via("user", "sent as the chat user", _same("user")),
    "safety_identifier": _via("safety_identifier", "sent as the chat safety_identifier",
                              _same("safety_identifier")),
    "prompt_cache_key": _via("prompt_cache_key", "sent as the chat prompt_cache_key",
                             _same("prompt_cache_key")),
    "service_tier": _via("service_tier", "sent as the chat service_tier",
                         _same("service_tier")),
    "reasoning": _via("reasoning", "reasoning.effort becomes reasoning_effort", _reasoning),
    "stream": Rule(translate("a chat stream, rendered as Responses events")),
    "stream_options": _via("stream_options", "the gateway always asks for usage "
                                             "(response.completed carries it)"),
    "truncation": _via("truncation", "'disabled', the default: input is never dropped"),
    "store": Rule(refuse("the gateway keeps no responses"), (
        Case("false", value_in(False), translate("not stored, as through the gateway "
                                                 "everywhere")),)),
    "include": Rule(refuse(f"{_NOT_FOR_CHAT}: no encrypted reasoning, logprobs or tool "
                           "outputs"), (Case("[]", value_in([]), translate("nothing to "
                                                                           "include")),)),
    "top_logprobs": Rule(refuse(f"{_NOT_FOR_CHAT}: logprobs are not rendered"), (
        Case("0", value_in(0), translate("none, the default")),)),
    "max_tool_calls": Rule(refuse("the chat API has no cap on tool calls")),
    "prompt": Rule(refuse("stored prompt templates exist on OpenAI's platform only")),
    "context_management": Rule(refuse("no chat equivalent")),
    "moderation": Rule(refuse("no chat equivalent")),
    "image": Rule(refuse("no chat equivalent")),
    "access_programs": Rule(refuse("no chat equivalent")),
    "prompt_cache_options": Rule(refuse("no chat equivalent")),
    "prompt_cache_retention": Rule(refuse("no chat equivalent")),
    **{name: Rule(_STATE) for name in conv.STATE_FIELDS},
}

_THEIRS = passthrough("the target speaks the Responses API; the upstream answers for it")
_PASSED: dict[str, Rule] = {name: Rule(_THEIRS) for name in _TRANSLATED}
_PASSED["model"] = Rule(translate("replaced by the target's model (Azure deployment, "
                                  "Bedrock model id)"))
_PASSED["store"] = Rule(refuse("the gateway keeps no responses"), (
    Case("false", value_in(False), passthrough("sent as is")),))
_PASSED.update({name: Rule(_STATE) for name in conv.STATE_FIELDS})

for _kind in ("bedrock", "openai_compatible"):
    register(RESPONSES, _kind, _TRANSLATED,
             unknown=refuse("not a Responses field the gateway translates to chat"))
for _kind in ("azure_openai", "bedrock_openai"):
    register(RESPONSES, _kind, _PASSED, unknown=_THEIRS)
