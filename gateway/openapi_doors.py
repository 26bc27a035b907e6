"""OpenAPI paths and schemas of the Responses and Anthropic Messages front doors.

Part of :mod:`skyrelay.gateway.openapi` (kept apart so that each module stays small). The
schemas state what the doors check (``gateway/doors/openai_responses.py``,
``gateway/doors/anthropic_messages.py``) and what they guarantee in their answers, and allow
every other field: requests are passed on, or translated, per target.

Example::

    paths = door_paths(common)          # {"/v1/responses": {...}, "/v1/messages": {...}}
    schemas = door_schemas()            # ResponseRequest, Response, MessageRequest, ...
"""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def door_schemas() -> dict[str, Any]:
    """Component schemas of the two doors."""
    sse = {"event": {"type": "string"}, "id": {"type": "string"}, "retry": {"type": "integer"}}
    return {
        "ResponseRequest": {
            "type": "object", "required": ["model", "input"], "properties": {
                "model": {"type": "string", "minLength": 1,
                          "description": "A route name from /v1/models."},
                "input": {"oneOf": [{"type": "string"},
                                    {"type": "array", "items": {"type": "object"}}],
                          "description": "Text, or input items (messages, function calls "
                                         "and their outputs)."},
                "instructions": {"type": ["string", "null"]},
                "stream": {"type": "boolean", "default": False},
                "tools": {"type": "array", "items": {"type": "object"}},
                "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
                "text": {"type": "object", "properties": {"format": {"type": "object"}}},
                "max_output_tokens": {"type": "integer"},
                "store": {"type": "boolean", "description": "Refused with 400 when true: "
                          "the gateway keeps no responses."},
                "previous_response_id": {"type": ["string", "null"], "description":
                                         "Refused with 400: the gateway keeps no responses."},
            }, "additionalProperties": True},
        "Response": {
            "type": "object", "required": ["id", "object", "status", "output"], "properties": {
                "id": {"type": "string"}, "object": {"const": "response"},
                "created_at": {"type": "number"}, "model": {"type": "string"},
                "status": {"type": "string"},
                "output": {"type": "array", "items": {"type": "object"}},
                "usage": {"type": ["object", "null"]}}, "additionalProperties": True},
        "ResponseEvent": {
            "type": "object", "required": ["data"],
            "description": "One server-sent event of a Responses stream: `event` names its "
                           "type (`response.created`, `response.output_text.delta`, ..., "
                           "`response.completed`), `data` holds the event as JSON.",
            "properties": {**sse, "data": {
                "type": "string", "contentMediaType": "application/json",
                "contentSchema": {"anyOf": [
                    {"type": "object", "required": ["type"],
                     "properties": {"type": {"type": "string"},
                                    "sequence_number": {"type": "integer"}},
                     "additionalProperties": True},
                    _ref("Error")]}}}},
        "MessageRequest": {
            "type": "object", "required": ["model", "max_tokens", "messages"], "properties": {
                "model": {"type": "string", "minLength": 1,
                          "description": "A route name from /v1/models."},
                "max_tokens": {"type": "integer", "minimum": 1},
                "messages": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["role", "content"], "properties": {
                        "role": {"enum": ["user", "assistant"]},
                        "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {
                            "type": "object", "required": ["type"],
                            "properties": {"type": {"type": "string"}}}}]}},
                    "additionalProperties": True}},
                "system": {"oneOf": [{"type": "string"},
                                     {"type": "array", "items": {"type": "object"}}]},
                "stream": {"type": "boolean", "default": False},
                "temperature": {"type": "number"}, "top_p": {"type": "number"},
                "top_k": {"type": "number"},
                "stop_sequences": {"type": "array", "items": {"type": "string"}},
                "tools": {"type": "array", "items": {"type": "object"}},
                "tool_choice": {"type": "object"},
            }, "additionalProperties": True},
        "Message": {
            "type": "object", "required": ["id", "type", "role", "content"], "properties": {
                "id": {"type": "string"}, "type": {"const": "message"},
                "role": {"const": "assistant"}, "model": {"type": "string"},
                "content": {"type": "array", "items": {"type": "object"}},
                "stop_reason": {"type": ["string", "null"]},
                "usage": {"type": "object"}}, "additionalProperties": True},
        "MessageEvent": {
            "type": "object", "required": ["data"],
            "description": "One server-sent event of a Messages stream (`message_start`, "
                           "`content_block_delta`, ..., `message_stop`, or `error`).",
            "properties": {**sse, "data": {
                "type": "string", "contentMediaType": "application/json",
                "contentSchema": {"type": "object", "required": ["type"],
                                  "properties": {"type": {"type": "string"}},
                                  "additionalProperties": True}}}},
        "AnthropicError": {
            "type": "object", "required": ["type", "error"], "properties": {
                "type": {"const": "error"},
                "error": {"type": "object", "required": ["type", "message"], "properties": {
                    "type": {"type": "string"}, "message": {"type": "string"}}}}},
    }


def door_paths(classification: dict[str, Any], errors: dict[str, Any],
               routed_headers: dict[str, Any], error_text: dict[int, str]) -> dict[str, Any]:
    """``/v1/responses``, its Azure path, and ``/v1/messages`` (errors in Anthropic's shape)."""
    responses = {"post": {
        "operationId": "createResponse", "summary": "Response (JSON or SSE events)",
        "parameters": [classification],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": _ref("ResponseRequest")}}},
        "responses": {"200": {
            "description": "The response, or with `stream: true` an SSE stream of events.",
            "headers": routed_headers,
            "content": {"application/json": {"schema": _ref("Response")},
                        "text/event-stream": {"schema": _ref("ResponseEvent")}}},
            **errors}}}
    azure = {"post": {**responses["post"], "operationId": "createResponseAzure",
                      "summary": "Response, Azure path (openai.AzureOpenAI)",
                      "parameters": [classification, {
                          "name": "api-version", "in": "query", "required": False,
                          "schema": {"type": "string"}}]}}
    anthropic_errors = {str(s): {"description": text, "content": {"application/json": {
        "schema": _ref("AnthropicError")}}} for s, text in error_text.items()}
    messages = {"post": {
        "operationId": "createMessage",
        "summary": "Anthropic Messages (JSON or SSE events) to Claude targets on Bedrock",
        "security": [{"anthropicKey": []}, {"bearer": []}],
        "parameters": [classification,
                       {"name": "anthropic-version", "in": "header", "required": False,
                        "description": "Accepted; Bedrock fixes the version it serves.",
                        "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": _ref("MessageRequest")}}},
        "responses": {"200": {
            "description": "The message, or with `stream: true` an SSE stream of events.",
            "headers": routed_headers,
            "content": {"application/json": {"schema": _ref("Message")},
                        "text/event-stream": {"schema": _ref("MessageEvent")}}},
            **anthropic_errors}}}
    return {"/v1/responses": responses, "/openai/responses": azure, "/v1/messages": messages}
