"""The OpenTelemetry GenAI semantic-convention names the gateway's spans carry, and the
readers that find their values in the gateway's own objects. No OpenTelemetry import.

Source: "Semantic conventions for generative client AI spans",
https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/ (status: Development;
checked 2026-12-02, semconv 1.41), and the registry's ``gen_ai.provider.name`` values
(``aws.bedrock``, ``azure.ai.openai``, ``openai``). Names chosen where the convention moved:

* ``gen_ai.provider.name`` replaced ``gen_ai.system`` (semconv 1.37). Both are written on
  the attempt spans, with the same value, because backends still key on the old one;
  Azure's value is ``azure.ai.openai`` (before 1.37: ``az.ai.openai``);
* ``gen_ai.usage.input_tokens`` / ``output_tokens`` (not the older ``prompt_tokens`` /
  ``completion_tokens``);
* prompt and completion text, only when the spec turns ``log_prompts`` on, as the
  opt-in attributes ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (JSON of
  ``[{"role", "parts": [{"type": "text", "content"}]}]``), not the deprecated per-message
  events.

Span names are ``{gen_ai.operation.name} {gen_ai.request.model}``; the upstream attempt is
kind CLIENT, the gateway's own request span kind SERVER.

Example::

    provider_name("bedrock")                        # "aws.bedrock"
    finish_reasons({"choices": [{"finish_reason": "stop"}]})   # ("stop",)
"""

from __future__ import annotations

from typing import Any

import orjson

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the pre-1.37 name of PROVIDER
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
HTTP_STATUS = "http.response.status_code"
#: The gateway's own attributes (its namespace).
TENANT = "skyrelay.tenant"
ROUTE = "skyrelay.route"
TARGET = "skyrelay.target"
ATTEMPT = "skyrelay.attempt"
ATTEMPTS = "skyrelay.attempts"
RETRY = "skyrelay.retry"
REQUEST_ID = "skyrelay.request_id"
#: attributes whose value is new on every span (not worth caching once encoded)
UNIQUE = frozenset((REQUEST_ID, RESPONSE_ID, INPUT_MESSAGES, OUTPUT_MESSAGES))

#: target cloud (config) -> ``gen_ai.provider.name``
_PROVIDERS = {"bedrock": "aws.bedrock", "azure": "azure.ai.openai", "openai": "openai"}
#: the gateway's operation -> ``gen_ai.operation.name``
_OPERATIONS = {"chat": "chat", "embeddings": "embeddings"}


def provider_name(cloud: str) -> str:
    """``gen_ai.provider.name`` for a target's cloud (the cloud itself when unknown)."""
    return _PROVIDERS.get(cloud, cloud)


def operation_name(op: str) -> str:
    """``gen_ai.operation.name`` for the gateway's operation."""
    return _OPERATIONS.get(op, op)


def _answer(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return None
    inner = body.get("response")  # a Responses stream event carries the response object
    return inner if isinstance(inner, dict) else body


def finish_reasons(body: Any) -> tuple[str, ...]:
    """The finish reasons in a Chat Completions answer or chunk, a Responses object or
    event, or an Anthropic message / ``message_delta`` event; () when it names none."""
    answer = _answer(body)
    if answer is None:
        return ()
    choices = answer.get("choices")
    if isinstance(choices, list):
        return tuple(str(c["finish_reason"]) for c in choices
                     if isinstance(c, dict) and c.get("finish_reason"))
    delta = answer.get("delta")
    stop = (delta.get("stop_reason") if isinstance(delta, dict) else None) \
        or answer.get("stop_reason")
    if stop:
        return (str(stop),)
    if answer.get("object") == "response" and answer.get("status") in (
            "completed", "incomplete", "failed"):
        return (str(answer["status"]),)
    return ()


def response_model(body: Any) -> str | None:
    """The ``model`` an answer (or stream chunk/event) names, or None."""
    answer = _answer(body)
    if answer is None:
        return None
    model = answer.get("model")
    if isinstance(model, str) and model:
        return model
    message = answer.get("message")  # Anthropic message_start
    inner = message.get("model") if isinstance(message, dict) else None
    return inner if isinstance(inner, str) and inner else None


def usage_counts(usage: Any) -> tuple[int | None, int | None]:
    """``(input, output)`` tokens from raw usage with OpenAI's names (ints only)."""
    if not isinstance(usage, dict):
        return None, None
    got_in, got_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (got_in if type(got_in) is int and got_in >= 0 else None,
            got_out if type(got_out) is int and got_out >= 0 else None)


def _parts(content: Any) -> list[dict[str, str]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, str]] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append({"type": "text", "content": part["text"]})
    return parts


def input_messages(body: Any) -> str | None:
    """``gen_ai.input.messages`` for a canonical chat body (embeddings: its input)."""
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if isinstance(messages, list):
        out = [{"role": str(m.get("role", "")), "parts": _parts(m.get("content"))}
               for m in messages if isinstance(m, dict)]
    elif "input" in body:
        given = body["input"]
        texts = given if isinstance(given, list) else [given]
        out = [{"role": "user", "parts": _parts(t if isinstance(t, str) else "")}
               for t in texts]
    else:
        return None
    return orjson.dumps(out).decode()


def output_messages(body: Any) -> str | None:
    """``gen_ai.output.messages`` for a ``chat.completion`` (None for other shapes)."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        return None
    out = []
    for choice in body["choices"]:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            out.append({"role": str(message.get("role", "assistant")),
                        "parts": _parts(message.get("content")),
                        "finish_reason": str(choice.get("finish_reason") or "")})
    return orjson.dumps(out).decode()


def output_text_message(text: str, reasons: tuple[str, ...]) -> str:
    """``gen_ai.output.messages`` for a streamed answer collected as ``text``."""
    return orjson.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text}],
                          "finish_reason": reasons[0] if reasons else ""}]).decode()


def delta_text(chunk: Any) -> str:
    """The text a canonical ``chat.completion.chunk`` adds (first choice)."""
    if type(chunk) is not dict:
        return ""
    choices = chunk.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        return ""
    delta = choices[0].get("delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""
