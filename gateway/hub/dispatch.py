"""One attempt on one target: passthrough when the target speaks the client's API,
translation otherwise.

Example::

    result = await call(provider, target, request, deadline=share)   # a Result
    stream = open_stream(provider, target, request, deadline=deadline)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.hub.events import StreamItem
from skyrelay.gateway.hub.fields import speaks
from skyrelay.gateway.hub.request import API_CHAT, API_EMBEDDINGS, Request
from skyrelay.gateway.hub.response import Result


def passes_through(request: Request, target: TargetConfig) -> bool:
    """Does ``target`` receive the client's own body (its API is one the target speaks and
    differs from the canonical one)?"""
    return request.native is not None and request.api in speaks(target)


async def call(provider: Any, target: TargetConfig, request: Request, *,
               deadline: float) -> Result:
    """A non-streamed attempt."""
    if request.native is not None and request.api in speaks(target):
        result: Result = await provider.passthrough(target, request, deadline=deadline)
        return result
    if request.op == "chat":
        return Result.of(await provider.chat(target, request.body, deadline=deadline),
                         API_CHAT)
    return Result.of(await provider.embeddings(target, request.body, deadline=deadline),
                     API_EMBEDDINGS)


def open_stream(provider: Any, target: TargetConfig, request: Request, *,
                deadline: float) -> AsyncIterator[StreamItem]:
    """A streamed attempt: canonical chunks, or NativeEvents when passed through."""
    if request.native is not None and request.api in speaks(target):
        stream: AsyncIterator[StreamItem] = provider.passthrough_stream(
            target, request, deadline=deadline)
        return stream
    chunks: AsyncIterator[StreamItem] = provider.chat_stream(target, request.body,
                                                             deadline=deadline)
    return chunks
