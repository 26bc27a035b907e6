"""The OpenAPI 3.1 document of the gateway's HTTP API.

Served at ``GET /openapi.json`` and committed as ``gateway/openapi.json`` (a test keeps the
two identical; regenerate with ``python -m skyrelay.gateway.openapi > gateway/openapi.json``).
The request and response schemas describe the OpenAI fields the gateway reads or guarantees
and allow the rest (``additionalProperties``), since requests are passed on to providers.

Example::

    doc = openapi_document()
    doc["paths"]["/v1/chat/completions"]["post"]["operationId"]  # "createChatCompletion"
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from skyrelay.gateway.openapi_doors import door_paths, door_schemas

VERSION = "0.1.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR_TEXT = {
    400: "Invalid request or content-filter refusal.",
    401: "Missing or unknown API key.",
    403: "Residency or classification refusal.",
    404: "Unknown model (route) or path.",
    413: "Request body too large.",
    429: "Rate limited; see Retry-After.",
    431: "Request headers too large.",
    502: "Upstream failure after all attempts.",
    503: "All eligible targets cooling down; see Retry-After.",
    504: "Route deadline exceeded.",
}

_ROUTED_HEADERS = {
    "x-skyrelay-target": {"description": "The target that served the request (or was tried "
                          "last), e.g. `bedrock:us-east-1/claude-sonnet`.",
                          "schema": {"type": "string"}},
    "x-skyrelay-attempts": {"description": "How many upstream attempts the request took.",
                            "schema": {"type": "integer", "minimum": 1}},
    "x-request-id": {"description": "The request's id (echoed when the client sent a valid "
                     "one).", "schema": {"type": "string"}},
}


def _schemas() -> dict[str, Any]:
    usage = {"type": "object", "properties": {
        "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"}}, "additionalProperties": True}
    tool_call = {"type": "object", "required": ["id", "type", "function"], "properties": {
        "index": {"type": "integer"}, "id": {"type": "string"},
        "type": {"const": "function"},
        "function": {"type": "object", "properties": {
            "name": {"type": "string"},
            "arguments": {"type": "string", "description": "JSON text"}}}},
        "additionalProperties": True}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["message", "type", "param", "code"],
            "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                           "param": {"type": ["string", "null"]},
                           "code": {"type": ["string", "null"]}}}}},
        "ChatMessage": {"type": "object", "required": ["role"], "properties": {
            "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
            "content": {"oneOf": [{"type": "string"}, {"type": "null"},
                                  {"type": "array", "items": {"type": "object"}}]},
            "name": {"type": "string"},
            "tool_calls": {"type": "array", "items": _ref("ToolCall")},
            "tool_call_id": {"type": "string"}}, "additionalProperties": True},
        "ToolCall": tool_call,
        "ChatCompletionRequest": {
            "type": "object", "required": ["model", "messages"], "properties": {
                "model": {"type": "string", "minLength": 1,
                          "description": "A route name from /v1/models."},
                "messages": {"type": "array", "minItems": 1, "items": _ref("ChatMessage")},
                "stream": {"type": "boolean", "default": False},
                "stream_options": {"type": "object", "properties": {
                    "include_usage": {"type": "boolean", "description": "Send a last chunk "
                                      "with `choices: []` and `usage`."}}},
                "max_tokens": {"type": "integer"}, "max_completion_tokens": {"type": "integer"},
                "temperature": {"type": "number"}, "top_p": {"type": "number"},
                "stop": {"oneOf": [{"type": "string"},
                                   {"type": "array", "items": {"type": "string"}}]},
                "tools": {"type": "array", "items": {"type": "object"}},
                "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
            }, "additionalProperties": True},
        "ChatCompletion": {
            "type": "object", "required": ["id", "object", "created", "model", "choices"],
            "properties": {
                "id": {"type": "string"}, "object": {"const": "chat.completion"},
                "created": {"type": "integer"}, "model": {"type": "string"},
                "choices": {"type": "array", "items": {"type": "object", "properties": {
                    "index": {"type": "integer"},
                    "finish_reason": {"type": ["string", "null"]},
                    "message": {"type": "object", "properties": {
                        "role": {"const": "assistant"},
                        "content": {"type": ["string", "null"]},
                        "tool_calls": {"type": "array", "items": _ref("ToolCall")}},
                        "additionalProperties": True}}, "additionalProperties": True}},
                "usage": _ref("Usage")}, "additionalProperties": True},
        "ChatCompletionEvent": {
            "type": "object", "required": ["data"],
            "description": "One server-sent event of a chat stream: `data` holds a "
                           "`ChatCompletionChunk` as JSON. The stream ends with `data: [DONE]`, "
                           "or, when it fails after it started, with one `data: {\"error\": "
                           "...}` event and no `[DONE]`.",
            "properties": {
                "event": {"type": "string"}, "id": {"type": "string"},
                "retry": {"type": "integer"},
                "data": {"anyOf": [
                    {"const": "[DONE]"},
                    {"type": "string", "contentMediaType": "application/json",
                     "contentSchema": {"anyOf": [_ref("ChatCompletionChunk"), _ref("Error")]}},
                ]}}},
        "ChatCompletionChunk": {
            "type": "object", "required": ["id", "object", "choices"],
            "description": "The JSON in the `data` of one chat stream event.",
            "properties": {
                "id": {"type": "string"}, "object": {"const": "chat.completion.chunk"},
                "created": {"type": "integer"}, "model": {"type": "string"},
                "choices": {"type": "array", "items": {"type": "object"}},
                "usage": _ref("Usage")}, "additionalProperties": True},
        "Usage": usage,
        "EmbeddingRequest": {
            "type": "object", "required": ["model", "input"], "properties": {
                "model": {"type": "string", "minLength": 1},
                "input": {"oneOf": [{"type": "string", "minLength": 1},
                                    {"type": "array", "minItems": 1, "items": {"type": "string"}},
                                    {"type": "array", "minItems": 1,
                                     "items": {"type": "integer"}},
                                    {"type": "array", "minItems": 1, "items": {
                                        "type": "array", "items": {"type": "integer"}}}]},
                "encoding_format": {"enum": ["float", "base64"]},
                "dimensions": {"type": "integer"}}, "additionalProperties": True},
        "EmbeddingList": {
            "type": "object", "required": ["object", "data"], "properties": {
                "object": {"const": "list"}, "model": {"type": "string"},
                "data": {"type": "array", "items": {"type": "object", "properties": {
                    "object": {"const": "embedding"}, "index": {"type": "integer"},
                    "embedding": {"oneOf": [{"type": "array", "items": {"type": "number"}},
                                            {"type": "string"}]}}}},
                "usage": _ref("Usage")}, "additionalProperties": True},
        "Model": {"type": "object", "required": ["id", "object", "created", "owned_by"],
                  "properties": {"id": {"type": "string"}, "object": {"const": "model"},
                                 "created": {"type": "integer"},
                                 "owned_by": {"type": "string"}}},
        "ModelList": {"type": "object", "required": ["object", "data"], "properties": {
            "object": {"const": "list"}, "data": {"type": "array", "items": _ref("Model")}}},
        # routes, upstreams, ... only with the scrape token or on the metrics port
        "Readiness": {"type": "object", "required": ["status"],
                      "properties": {
                          "status": {"enum": ["ready", "not_ready"]},
                          "config": {"type": "object"},
                          "routes": {"type": "object", "additionalProperties": {
                              "type": "object", "properties": {
                                  "ready": {"type": "boolean"},
                                  "healthy_targets": {"type": "array",
                                                      "items": {"type": "string"}}}}},
                          "unhealthy_upstreams": {"type": "array",
                                                  "items": {"type": "string"}},
                          "upstreams": {"type": "object", "additionalProperties": {
                              "type": "object", "properties": {
                                  "state": {"enum": ["closed", "open", "half_open"]},
                                  "reachable": {"type": ["boolean", "null"]},
                                  "consecutive_failures": {"type": "integer"},
                                  "last_error": {"type": ["string", "null"]},
                                  "retry_in_seconds": {"type": "number"},
                                  "latency_ms": {"type": "number"},
                                  "ttft_ms": {"type": "number"}}}}}},
    }


_ROUTE_PARAM = {"name": "route", "in": "path", "required": True,
                "description": "The gateway route (Azure: the deployment name).",
                "schema": {"type": "string"}}
_API_VERSION_PARAM = {"name": "api-version", "in": "query", "required": False,
                      "description": "The client's Azure api-version; every version is "
                                     "served the same.", "schema": {"type": "string"}}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document as a dict."""
    errors = {str(s): {"$ref": f"#/components/responses/E{s}"} for s in _ERROR_TEXT}
    model_errors = dict(errors)
    classification = {"name": "x-skyrelay-classification", "in": "header", "required": False,
                      "description": "Narrow the request's data classification (never wider "
                                     "than the tenant's: a wider one is refused with 403).",
                      "schema": {"type": "string"}}
    auth_errors = {k: v for k, v in errors.items() if k in ("401", "431")}
    any_request = {"431": errors["431"]}  # headers over the limit, on every path
    return {
        "openapi": "3.1.0",
        "info": {"title": "skyrelay gateway", "version": VERSION,
                 "description": "OpenAI-compatible router across Amazon Bedrock, Azure OpenAI "
                                "and OpenAI-compatible upstreams, with fallback, circuit "
                                "breakers and residency rules. Use the official OpenAI SDKs "
                                "with `base_url` pointing at `/v1`."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": {
            "/v1/chat/completions": {"post": {
                "operationId": "createChatCompletion", "summary": "Chat completion (JSON or SSE)",
                "parameters": [classification],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("ChatCompletionRequest")}}},
                "responses": {"200": {
                    "description": "The completion, or with `stream: true` an SSE stream of "
                                   "chunks.", "headers": _ROUTED_HEADERS,
                    "content": {"application/json": {"schema": _ref("ChatCompletion")},
                                "text/event-stream": {
                                    "schema": _ref("ChatCompletionEvent")}}},
                    **model_errors}}},
            "/v1/embeddings": {"post": {
                "operationId": "createEmbedding", "summary": "Embeddings",
                "parameters": [classification],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("EmbeddingRequest")}}},
                "responses": {"200": {**_json(_ref("EmbeddingList"), "The embeddings."),
                                      "headers": _ROUTED_HEADERS}, **model_errors}}},
            # Azure-style clients (openai.AzureOpenAI): the deployment in the path names the
            # route; /openai/v1/... mirrors /v1/... for Azure's v1 base URL style
            "/openai/deployments/{route}/chat/completions": {"post": {
                "operationId": "createChatCompletionAzure",
                "summary": "Chat completion, Azure deployment path (the route in the path)",
                "parameters": [classification, _ROUTE_PARAM, _API_VERSION_PARAM],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("ChatCompletionRequest")}}},
                "responses": {"200": {
                    "description": "As POST /v1/chat/completions.", "headers": _ROUTED_HEADERS,
                    "content": {"application/json": {"schema": _ref("ChatCompletion")},
                                "text/event-stream": {
                                    "schema": _ref("ChatCompletionEvent")}}},
                    **model_errors}}},
            "/openai/deployments/{route}/embeddings": {"post": {
                "operationId": "createEmbeddingAzure",
                "summary": "Embeddings, Azure deployment path (the route in the path)",
                "parameters": [classification, _ROUTE_PARAM, _API_VERSION_PARAM],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("EmbeddingRequest")}}},
                "responses": {"200": {**_json(_ref("EmbeddingList"), "The embeddings."),
                                      "headers": _ROUTED_HEADERS}, **model_errors}}},
            **door_paths(classification, model_errors, _ROUTED_HEADERS, _ERROR_TEXT),
            "/v1/models": {"get": {
                "operationId": "listModels", "summary": "Routes the calling tenant may use",
                "responses": {"200": _json(_ref("ModelList"), "The tenant's routes."),
                              **auth_errors}}},
            "/v1/models/{model}": {"get": {
                "operationId": "retrieveModel", "summary": "One route the tenant may use",
                "parameters": [{"name": "model", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("Model"), "The route."), **auth_errors,
                              "404": errors["404"]}}},
            "/healthz": {"get": {
                "operationId": "health", "summary": "The process is alive", "security": [],
                "responses": {"200": _json({"type": "object", "properties": {
                    "status": {"const": "ok"}}}, "Alive."), **any_request}}},
            "/readyz": {"get": {
                "operationId": "ready", "security": [],
                "summary": "Config loaded and every route has a healthy, reachable target "
                           "(status only; the details with the scrape token)",
                "responses": {"200": _json(_ref("Readiness"), "Ready."),
                              "503": _json(_ref("Readiness"),
                                           "Not ready; lists the unhealthy upstreams."),
                              **any_request}}},
            "/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document", "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document."),
                              **any_request}}},
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "The tenant's API key."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "api-key",
                           "description": "The tenant's API key, Azure-client style."},
                "anthropicKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                                 "description": "The tenant's API key, Anthropic-client "
                                                "style."}},
            "responses": {f"E{s}": _json(_ref("Error"), text)
                          for s, text in _ERROR_TEXT.items()},
            "schemas": {**_schemas(), **door_schemas()},
        },
    }


def openapi_json() -> bytes:
    """The document as stable, indented JSON text (what ``gateway/openapi.json`` holds)."""
    return orjson.dumps(openapi_document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) \
        + b"\n"


if __name__ == "__main__":
    sys.stdout.buffer.write(openapi_json())
