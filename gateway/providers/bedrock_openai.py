"""Amazon Bedrock's OpenAI-compatible endpoint: ``{runtime}/openai/v1`` Chat Completions and
Responses, for OpenAI models on Bedrock.

Endpoints, from AWS's docs: ``https://bedrock-runtime.{region}.amazonaws.com/openai/v1`` +
``/chat/completions`` (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-chat-completions.html)
and + ``/responses`` (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-responses-api.html;
on bedrock-runtime these are synchronous, without server-side tools). Auth is either SigV4
(service ``bedrock``, the gateway's task role, as for Converse) or a Bedrock API key as
``Authorization: Bearer`` (https://docs.aws.amazon.com/bedrock/latest/userguide/api-keys-use.html),
chosen per model in the spec (an ``api_key`` reference, read as ``gateway.envnames`` says).

The target speaks OpenAI's wire format, so bodies are the client's own with the target's
model: the canonical chat body for Chat Completions, the client's Responses body for
Responses (passthrough).

Example::

    provider = BedrockOpenAIProvider(HttpClient())
    completion = await provider.chat(target, {"messages": [...]}, deadline=deadline)
    result = await provider.passthrough(target, responses_request, deadline=deadline)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.envnames import reference_env_name, resolve_reference, secrets_dir_of
from skyrelay.gateway.hub.events import NativeEvent
from skyrelay.gateway.hub.fields import SPEAKS
from skyrelay.gateway.hub.request import Request
from skyrelay.gateway.hub.response import Result
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.bedrock import _Credentials
from skyrelay.gateway.providers.http import HttpClient
from skyrelay.gateway.providers.openai_wire_io import (
    native_responses,
    post,
    protocol,
    read_json,
    responses_body,
    responses_result,
    sse_events,
)

#: The OpenAI-compatible base path under the Bedrock runtime endpoint (pages cited above).
BASE_PATH = "/openai/v1"
#: Chat stream chunks end with ``data: [DONE]``; there is no ``type`` to end on.
_NO_END: frozenset[str] = frozenset()


class BedrockOpenAIProvider:
    """Chat Completions and Responses on bedrock-runtime's OpenAI-compatible endpoint.

    ``environ`` is where API keys are read (each request, so a rotated key applies; a
    mounted secrets folder is honoured as for every key reference).
    """

    speaks: frozenset[str] = SPEAKS["bedrock_openai"]

    def __init__(self, http: HttpClient | None = None, *,
                 environ: Mapping[str, str] | None = None,
                 credentials: _Credentials | None = None) -> None:
        self.http = http or HttpClient()
        self.environ = os.environ if environ is None else environ
        self._credentials = credentials

    def url(self, target: TargetConfig, op: str) -> str:
        """``{endpoint}/openai/v1/{op}``."""
        return f"{target.endpoint.rstrip('/')}{BASE_PATH}/{op}"

    async def _headers(self, target: TargetConfig, url: str, body: bytes,
                       stream: bool) -> tuple[dict[str, str], list[str]]:
        """Signed (or keyed) headers, and the secrets to redact from upstream errors."""
        headers = {"content-type": "application/json",
                   "accept": "text/event-stream" if stream else "application/json"}
        if target.api_key is not None:  # a Bedrock API key, where the stack put it
            key = resolve_reference(target.api_key, self.environ, secrets_dir_of(self.environ))
            if not key:
                raise ProviderError("auth", 503, f"{target.key}: the Bedrock API key "
                                    f"{reference_env_name(target.api_key)} is not set",
                                    code="no_credentials", retryable=True)
            headers["authorization"] = "Bearer " + key
            return headers, [key]
        if self._credentials is None:
            self._credentials = _Credentials()
        creds = await self._credentials.get()
        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(creds, "bedrock", target.region).add_auth(request)
        return dict(request.headers.items()), [c for c in (creds.access_key, creds.secret_key,
                                                          creds.token) if c]

    async def _send(self, target: TargetConfig, op: str, body: dict[str, Any],
                    deadline: float, stream: bool) -> Any:
        payload = orjson.dumps({**body, "model": target.model, "stream": stream})
        url = self.url(target, op)
        headers, secrets = await self._headers(target, url, payload, stream)
        return await post(self.http, target, url, payload, headers, deadline, secrets)

    # --- Chat Completions (the canonical body) -----------------------------------------

    async def chat(self, target: TargetConfig, request: dict[str, Any], *,
                   deadline: float) -> dict[str, Any]:
        """A ``chat.completion``."""
        body = {k: v for k, v in request.items() if k != "stream_options"}
        resp = await self._send(target, "chat/completions", body, deadline, False)
        value = await read_json(target, resp, deadline)
        if not isinstance(value.get("choices"), list):
            raise protocol(target, "the chat completion has no 'choices' array")
        return value

    async def chat_stream(self, target: TargetConfig, request: dict[str, Any], *,
                          deadline: float) -> AsyncIterator[dict[str, Any]]:
        """``chat.completion.chunk`` objects; the last one carries usage."""
        options = request.get("stream_options")
        body = {**request, "stream_options": {**(options if isinstance(options, dict) else {}),
                                              "include_usage": True}}
        resp = await self._send(target, "chat/completions", body, deadline, True)
        async for _, chunk in sse_events(target, resp, deadline, end=_NO_END):
            if not isinstance(chunk.get("choices"), list):
                raise protocol(target, "a stream chunk has no 'choices' array")
            if chunk["choices"] or chunk.get("usage") is not None:
                yield chunk

    async def embeddings(self, target: TargetConfig, request: dict[str, Any], *,
                         deadline: float) -> dict[str, Any]:
        """Not served: the endpoint has Chat Completions and Responses only."""
        raise ProviderError("bad_request", 400, f"{target.key}: Bedrock's OpenAI-compatible "
                            "endpoint has no embeddings", code="unsupported_api")

    # --- Responses (passthrough) --------------------------------------------------------

    async def _responses(self, target: TargetConfig, native: dict[str, Any],
                         deadline: float, stream: bool) -> Any:
        payload = responses_body(target, native, stream)
        url = self.url(target, "responses")
        headers, secrets = await self._headers(target, url, payload, stream)
        return await post(self.http, target, url, payload, headers, deadline, secrets)

    async def passthrough(self, target: TargetConfig, request: Request, *,
                          deadline: float) -> Result:
        """The client's Responses body to ``/openai/v1/responses``: the ``response``."""
        resp = await self._responses(target, request.native_body(), deadline, False)
        return responses_result(target, await read_json(target, resp, deadline))

    async def passthrough_stream(self, target: TargetConfig, request: Request, *,
                                 deadline: float) -> AsyncIterator[NativeEvent]:
        """The streamed response's events, ``response.completed`` (with usage) last."""
        resp = await self._responses(target, request.native_body(), deadline, True)
        async for event in native_responses(target, resp, deadline):
            yield event

    async def aclose(self) -> None:
        """The pool belongs to the registry's HttpClient; nothing of our own to close."""
