"""The decision tables of the OpenAI Chat Completions and embeddings doors.

Field lists: the Chat Completions and Embeddings request bodies of OpenAI's API reference
(https://platform.openai.com/docs/api-reference/chat/create,
https://platform.openai.com/docs/api-reference/embeddings/create). Bedrock targets are
translated to Converse (chat) and InvokeModel (embeddings); what Converse takes is
botocore's ``bedrock-runtime`` service model (the ``Converse`` input shape: inferenceConfig,
toolConfig, outputConfig, serviceTier, requestMetadata). Azure OpenAI, Bedrock's
OpenAI-compatible endpoint and OpenAI-compatible servers speak these APIs: fields pass
through and the upstream answers for them (its 400 keeps its ``param``).

Example::

    from skyrelay.gateway.hub import fields
    fields.refusal("openai_chat", {"n": 2}, bedrock_target).param   # "n"
"""

from __future__ import annotations

from typing import Any

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.hub.fields import (
    Case,
    Rule,
    passthrough,
    refuse,
    register,
    translate,
    value_in,
)

CHAT = "openai_chat"
EMBEDDINGS = "openai_embeddings"

#: https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html: "For
#: Converse APIs, use the outputConfig.textFormat request field"; only some models.
STRUCTURED_OUTPUT_DOC = "https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html"


def _format_type(value: Any) -> str | None:
    return value.get("type") if isinstance(value, dict) else None


def _structured(kind: str) -> Any:
    def test(value: Any, target: TargetConfig) -> bool:
        return _format_type(value) == kind and target.supports("structured_output") is True
    return test


def _is_text_format(value: Any, _target: TargetConfig) -> bool:
    return _format_type(value) == "text"


def _dimension_supported(value: Any, target: TargetConfig) -> bool:
    dims = target.capabilities.get("embedding_dimensions") or ()
    return isinstance(value, int) and value in dims


def _only_text(value: Any, _target: TargetConfig) -> bool:
    return isinstance(value, list) and all(v == "text" for v in value)


def _zero(value: Any, _target: TargetConfig) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def _service_tier_mapped(value: Any, _target: TargetConfig) -> bool:
    return value in ("auto", "default", "flex", "priority")


_BEDROCK_CHAT: dict[str, Rule] = {
    "model": Rule(translate("the route's target picks the Bedrock modelId")),
    "messages": Rule(translate(
        "system/developer messages become `system`, turns are merged to alternate, tool "
        "calls and results become toolUse/toolResult blocks, data: images become image "
        "blocks; other content part types are refused naming the part")),
    "stream": Rule(translate("ConverseStream, re-framed as Chat Completions SSE")),
    "stream_options": Rule(translate(
        "`include_usage`: the gateway sends the usage chunk from ConverseStream's metadata")),
    "max_tokens": Rule(translate("inferenceConfig.maxTokens")),
    "max_completion_tokens": Rule(translate("inferenceConfig.maxTokens")),
    "temperature": Rule(translate("inferenceConfig.temperature")),
    "top_p": Rule(translate("inferenceConfig.topP")),
    "stop": Rule(translate("inferenceConfig.stopSequences")),
    "tools": Rule(translate("toolConfig.tools[].toolSpec"), (
        Case("catalog: tool_use is false", lambda v, t: t.supports("tool_use") is False,
             refuse("the model does not support tool use (catalog)")),)),
    "tool_choice": Rule(translate(
        "auto/required/a function -> toolChoice auto/any/tool; `none` withholds the tools "
        "(toolConfig kept when the history holds tool blocks, as Converse requires)")),
    "parallel_tool_calls": Rule(
        refuse("Converse has no switch to turn parallel tool calls off"),
        (Case("true (the default)", value_in(True),
              translate("the default: the model may call several tools at once")),)),
    "response_format": Rule(
        refuse("the model has no structured output on Bedrock per the catalog "
               f"({STRUCTURED_OUTPUT_DOC}); prompt for JSON instead"),
        (Case("type text", _is_text_format, translate("the default: plain text")),
         Case("json_schema, catalog: structured_output", _structured("json_schema"),
              translate("outputConfig.textFormat (type json_schema) with the schema")),
         Case("json_object, catalog: structured_output", _structured("json_object"),
              translate("outputConfig.textFormat with the schema {\"type\": \"object\"}")))),
    "n": Rule(refuse("Converse returns one choice per request"),
              (Case("1", value_in(1), translate("one choice, the only one Converse gives")),)),
    "logprobs": Rule(refuse("Converse returns no log probabilities"),
                     (Case("false", value_in(False), translate("the default: none")),)),
    "top_logprobs": Rule(refuse("Converse returns no log probabilities")),
    "seed": Rule(refuse("Converse has no sampling seed")),
    "presence_penalty": Rule(refuse("Converse has no presence penalty"),
                             (Case("0", _zero, translate("the default: no penalty")),)),
    "frequency_penalty": Rule(refuse("Converse has no frequency penalty"),
                              (Case("0", _zero, translate("the default: no penalty")),)),
    "logit_bias": Rule(refuse("Converse has no logit bias"),
                       (Case("{}", value_in({}), translate("empty: no bias")),)),
    "functions": Rule(refuse("the legacy `functions` field is not translated; use `tools`")),
    "function_call": Rule(refuse(
        "the legacy `function_call` field is not translated; use `tool_choice`")),
    "reasoning_effort": Rule(refuse(
        "the catalog does not record which Bedrock models take a reasoning effort")),
    "modalities": Rule(refuse("Converse answers text only"),
                       (Case("[\"text\"]", _only_text, translate("text, the default")),)),
    "audio": Rule(refuse("Converse produces no audio output")),
    "prediction": Rule(refuse("Converse has no predicted outputs")),
    "web_search_options": Rule(refuse("Converse has no web search tool")),
    "verbosity": Rule(refuse("Converse has no verbosity control")),
    "store": Rule(refuse("Bedrock does not store chat completions for later retrieval"),
                  (Case("false", value_in(False), translate("the default: not stored")),)),
    "metadata": Rule(translate("requestMetadata (filters Bedrock's invocation logs)")),
    "user": Rule(translate("requestMetadata `user` (filters Bedrock's invocation logs)")),
    "safety_identifier": Rule(translate("requestMetadata `safety_identifier`")),
    "prompt_cache_key": Rule(translate(
        "not needed: Bedrock caches prompt prefixes itself; the key only routes OpenAI's "
        "cache and does not change the answer")),
    "service_tier": Rule(
        refuse("Bedrock's tiers are reserved, priority, default and flex"),
        (Case("auto, default, flex or priority", _service_tier_mapped,
              translate("serviceTier.type (auto -> Bedrock's default tier)")),)),
}

_BEDROCK_EMBEDDINGS: dict[str, Rule] = {
    "model": Rule(translate("the route's target picks the Bedrock modelId")),
    "input": Rule(translate(
        "Titan: one InvokeModel call per string (inputText); Cohere: one call with "
        "`texts`; token-id arrays are refused (Bedrock takes text)")),
    "encoding_format": Rule(
        refuse("expected `float` or `base64`"),
        (Case("float or base64", value_in("float", "base64"),
              translate("floats from Bedrock; base64 (little-endian float32, as OpenAI) is "
                        "encoded by the gateway")),)),
    "dimensions": Rule(
        refuse("the model's output size is fixed, or the value is not one the catalog "
               "lists for it (catalog: embedding_dimensions)"),
        (Case("a size in catalog: embedding_dimensions", _dimension_supported,
              translate("Titan v2 `dimensions`")),)),
    "user": Rule(refuse("InvokeModel has no request metadata to carry it")),
}

_THEIRS = passthrough("the target speaks this API; the upstream answers for the field")
_MODEL_DEPLOYMENT = translate("replaced by the target's model (the Azure deployment, the "
                              "upstream model name)")

register(CHAT, "bedrock", _BEDROCK_CHAT,
         unknown=refuse("not a Chat Completions field the gateway translates to Converse"))
register(EMBEDDINGS, "bedrock", _BEDROCK_EMBEDDINGS,
         unknown=refuse("not an embeddings field the gateway translates to InvokeModel"))

_PASS_CHAT = {name: (Rule(_MODEL_DEPLOYMENT) if name == "model" else Rule(_THEIRS))
              for name in _BEDROCK_CHAT}
_PASS_CHAT["stream_options"] = Rule(translate(
    "include_usage is always asked of the upstream (usage is metered); the usage chunk "
    "reaches the client only when it asked"))
_PASS_EMBEDDINGS = {name: (Rule(_MODEL_DEPLOYMENT) if name == "model" else Rule(_THEIRS))
                    for name in _BEDROCK_EMBEDDINGS}
for _kind in ("azure_openai", "openai_compatible", "bedrock_openai"):
    register(CHAT, _kind, _PASS_CHAT, unknown=_THEIRS)
for _kind in ("azure_openai", "openai_compatible"):
    register(EMBEDDINGS, _kind, _PASS_EMBEDDINGS, unknown=_THEIRS)
register(EMBEDDINGS, "bedrock_openai", {},
         unknown=refuse("Bedrock's OpenAI-compatible endpoint serves no embeddings"))
