"""The OpenAI Responses API passed through to Azure OpenAI: ``{endpoint}/openai/v1/responses``.

Azure serves Responses on its v1 surface only, whatever API an account's chat traffic uses
(https://learn.microsoft.com/en-us/azure/foundry/openai/how-to/responses: "The v1 API is
required"); ``model`` carries the deployment name. Auth is the
:class:`~skyrelay.gateway.providers.openai_compat.OpenAICompatProvider`'s (``api-key`` or an
Entra token), and so is the pool.

Example::

    result = await passthrough(openai_compat_provider, target, request, deadline=deadline)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.hub.events import NativeEvent
from skyrelay.gateway.hub.request import Request
from skyrelay.gateway.hub.response import Result
from skyrelay.gateway.providers.http import UpstreamResponse
from skyrelay.gateway.providers.openai_wire_io import (
    native_responses,
    post,
    read_json,
    responses_body,
    responses_result,
)


def url(target: TargetConfig) -> str:
    """``{endpoint}/openai/v1/responses``."""
    return f"{target.endpoint.rstrip('/')}/openai/v1/responses"


async def _open(provider: Any, target: TargetConfig, request: Request, deadline: float,
                stream: bool) -> UpstreamResponse:
    headers = await provider.headers(target, deadline)
    if stream:
        headers["accept"] = "text/event-stream"
    sent = [headers.get("api-key", ""), headers.get("authorization", "")[7:]]
    return await post(provider.http, target, url(target),
                      responses_body(target, request.native_body(), stream), headers,
                      deadline, sent)


async def passthrough(provider: Any, target: TargetConfig, request: Request, *,
                      deadline: float) -> Result:
    """A non-streamed response (checked to be a Responses ``response``)."""
    resp = await _open(provider, target, request, deadline, False)
    return responses_result(target, await read_json(target, resp, deadline))


async def passthrough_stream(provider: Any, target: TargetConfig, request: Request, *,
                             deadline: float) -> AsyncIterator[NativeEvent]:
    """The streamed response's events, ``response.completed`` (with usage) last."""
    resp = await _open(provider, target, request, deadline, True)
    async for event in native_responses(target, resp, deadline):
        yield event
