"""Claude on Amazon Bedrock with the Anthropic Messages body: InvokeModel(+WithResponseStream).

The passthrough for the Anthropic Messages door. ``POST /model/{modelId}/invoke`` takes the
Messages body (``anthropic_version: "bedrock-2023-05-31"``, no ``model``) and answers the
Anthropic ``message`` JSON; ``/model/{modelId}/invoke-with-response-stream`` answers AWS
event-stream frames whose ``chunk`` events carry ``{"bytes": <base64 of one Anthropic
stream event>}`` (botocore's ``bedrock-runtime`` service model: ``ResponseStream`` /
``PayloadPart``; https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html).
Signing, credentials and error mapping are :class:`BedrockProvider`'s.

Example::

    claude = BedrockAnthropic(bedrock_provider)
    message = await claude.messages(target, body_bytes, deadline=deadline)
    async for event in claude.messages_stream(target, body_bytes, deadline=deadline):
        ...   # {"type": "message_start", ...}, ..., {"type": "message_stop"}
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any

import orjson
from botocore.eventstream import EventStreamBuffer

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.deadlines import deadline_at
from skyrelay.gateway.doors.anthropic_messages import bedrock_body, usage_of
from skyrelay.gateway.hub.events import NativeEvent
from skyrelay.gateway.hub.request import API_MESSAGES, Request
from skyrelay.gateway.hub.response import Result
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.bedrock import (
    STREAM_FAULTS,
    BedrockProvider,
    frame_exception,
    stream_fault,
)

#: Bedrock's own per-invocation metrics inside the last stream event: not Anthropic's shape.
BEDROCK_METRICS = "amazon-bedrock-invocationMetrics"


def is_claude(target: TargetConfig) -> bool:
    """Whether ``target`` is an Anthropic model on Bedrock: ``anthropic.claude-…`` or a
    profile such as ``eu.anthropic.claude-…`` (the provider is the first or second part)."""
    if target.cloud != "bedrock" or target.kind != "chat":
        return False
    parts = target.model.split(".")
    return "anthropic" in parts[:2]


def _body(request: Request) -> dict[str, Any]:
    state = request.door_state or {}
    return bedrock_body(request.native_body(), state.get("beta"))


def _chars(event: dict[str, Any]) -> int:
    """Model output characters in a ``content_block_delta`` (for billing a cut stream)."""
    if event.get("type") != "content_block_delta":
        return 0
    delta = event.get("delta") or {}
    for key in ("text", "partial_json", "thinking"):
        value = delta.get(key)
        if isinstance(value, str):
            return len(value)
    return 0


def _protocol(target: TargetConfig, what: str) -> ProviderError:
    return ProviderError("protocol", 502, f"{target.key}: {what}", retryable=True)


class BedrockAnthropic:
    """Anthropic Messages passthrough to one Bedrock runtime (shares its pool and signer)."""

    def __init__(self, bedrock: BedrockProvider) -> None:
        self.bedrock = bedrock

    def _path(self, target: TargetConfig, op: str) -> str:
        return self.bedrock._path(target, op)

    async def passthrough(self, target: TargetConfig, request: Request, *,
                          deadline: float) -> Result:
        """The client's Messages body (Bedrock's version added, beta flags in the body)."""
        message = await self.messages(target, _body(request), deadline=deadline)
        return Result(message, API_MESSAGES, usage_of(message.get("usage")))

    async def passthrough_stream(self, target: TargetConfig, request: Request, *,
                                 deadline: float) -> AsyncIterator[NativeEvent]:
        """Messages stream events; each carries the usage so far (input from
        ``message_start``, output from ``message_delta``)."""
        usage: dict[str, Any] = {}
        async for event in self.messages_stream(target, _body(request), deadline=deadline):
            kind = event["type"]
            reported = None
            if kind == "message_start":
                message = event.get("message")
                usage = dict(message.get("usage") or {}) if isinstance(message, dict) else {}
                reported = usage_of(usage)
            elif kind == "message_delta" and isinstance(event.get("usage"), dict):
                usage.update({k: v for k, v in event["usage"].items() if v is not None})
                reported = usage_of(usage)
            yield NativeEvent(API_MESSAGES, kind, event, reported, _chars(event))

    async def messages(self, target: TargetConfig, body: dict[str, Any], *,
                       deadline: float) -> dict[str, Any]:
        """InvokeModel: the Anthropic ``message`` object (checked to be one)."""
        resp = await self.bedrock._post(target, self._path(target, "invoke"), body, deadline,
                                        "application/json")
        value = await self.bedrock._json(target, resp, deadline)
        if value.get("type") != "message" or not isinstance(value.get("content"), list):
            raise _protocol(target, "InvokeModel answered something that is not an Anthropic "
                            "message")
        return value

    async def messages_stream(self, target: TargetConfig, body: dict[str, Any], *,
                              deadline: float) -> AsyncIterator[dict[str, Any]]:
        """InvokeModelWithResponseStream: Anthropic stream events, ``message_stop`` last.

        An exception frame becomes the matching :class:`ProviderError`; a stream that ends
        before ``message_stop`` is a ``connection`` error (the answer was cut).
        """
        resp = await self.bedrock._post(target, self._path(target, "invoke-with-response-stream"),
                                        body, deadline, "application/vnd.amazon.eventstream")
        buffer = EventStreamBuffer()
        stopped = False
        try:
            with deadline_at(deadline):
                async for data in resp.iter_any():
                    buffer.add_data(data)
                    for message in buffer:
                        headers = message.headers
                        if (err := frame_exception(headers, message.payload)) is not None:
                            raise err
                        if headers.get(":event-type") != "chunk":
                            continue
                        event = self._decode(target, message.payload)
                        if event.get("type") == "message_stop":
                            stopped = True
                            event.pop(BEDROCK_METRICS, None)
                        yield event
        except STREAM_FAULTS as exc:
            raise stream_fault(target, exc) from None
        finally:
            resp.release()
        if not stopped:
            raise ProviderError("connection", 502, f"{target.key}: stream ended before "
                                "message_stop", retryable=True)

    @staticmethod
    def _decode(target: TargetConfig, payload: bytes) -> dict[str, Any]:
        part = orjson.loads(payload or b"{}")
        raw = part.get("bytes") if isinstance(part, dict) else None
        if not isinstance(raw, str):
            raise _protocol(target, "a stream chunk has no 'bytes'")
        try:
            event = orjson.loads(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError):
            raise _protocol(target, "a stream chunk's bytes are not base64 JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise _protocol(target, "a stream chunk is not an Anthropic stream event")
        return event
