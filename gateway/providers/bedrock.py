"""Amazon Bedrock Converse / ConverseStream over the shared HTTP pool, SigV4-signed.

Credentials come from botocore's standard chain (environment, shared files, the ECS task
role), resolved in a worker thread so the event loop never blocks, and cached until five
minutes before they expire. Requests are signed with botocore's SigV4 signer and sent on
the gateway's own pool; botocore's retries never run (the router retries). The
ConverseStream answer is AWS event-stream framing, parsed with botocore's
``EventStreamBuffer`` as bytes arrive; a bad CRC is a ``protocol`` error and an exception
frame inside a 200 stream becomes the matching :class:`ProviderError`.

``target.endpoint`` is the runtime endpoint (the VPC endpoint's DNS in production, a local
server in tests).

Example::

    provider = BedrockProvider(HttpClient())
    body = await provider.chat(target, {"messages": [...]}, deadline=loop.time() + 30)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer, InvalidHeadersLength
from botocore.session import Session

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.deadlines import deadline_at
from skyrelay.gateway.providers import bedrock_guardrails as guardrails
from skyrelay.gateway.providers.base import ProviderError, redact
from skyrelay.gateway.providers.bedrock_embeddings import (
    encode,
    expected_vectors,
    request_bodies,
    vectors_of,
)
from skyrelay.gateway.providers.bedrock_translate import StreamMapper, from_converse, to_converse
from skyrelay.gateway.providers.http import HttpClient, UpstreamResponse, UpstreamUnreachable
from skyrelay.gateway.telemetry.propagation import with_trace

#: Bedrock error names (header ``x-amzn-errortype`` or stream ``:exception-type``).
_ERRORS: dict[str, tuple[str, int, bool]] = {
    "ThrottlingException": ("rate_limit", 429, True),
    "ServiceQuotaExceededException": ("rate_limit", 429, True),
    "ModelNotReadyException": ("server", 503, True),
    "ServiceUnavailableException": ("server", 503, True),
    "InternalServerException": ("server", 500, True),
    "ModelStreamErrorException": ("server", 502, True),
    "ModelTimeoutException": ("timeout", 504, True),
    "ModelErrorException": ("server", 502, True),
    "AccessDeniedException": ("auth", 403, True),
    "UnrecognizedClientException": ("auth", 403, True),
    # The gateway's own signature or credentials are bad: not the client's fault.
    "InvalidSignatureException": ("auth", 403, True),
    "IncompleteSignatureException": ("auth", 403, True),
    "ExpiredTokenException": ("auth", 403, True),
    "MissingAuthenticationTokenException": ("auth", 403, True),
    "ValidationException": ("bad_request", 400, False),
    "ResourceNotFoundException": ("bad_request", 404, False),
}
_REFRESH_MARGIN = 300.0

# botocore's SigV4 signer logs each canonical request, session token included, at DEBUG;
# task-role credentials always carry one. Keep that out of the gateway's logs at any level.
logging.getLogger("botocore.auth").setLevel(logging.INFO)


def _error(name: str, message: str, status: int | None = None) -> ProviderError:
    short = name.split(":")[0]
    short = short[0].upper() + short[1:] if short else short
    kind, code_status, retryable = _ERRORS.get(short, (
        "server" if (status or 500) >= 500 else "bad_request", status or 502,
        (status or 500) >= 500))
    return ProviderError(kind, code_status, f"Bedrock {short}: {message}"[:500], code=short,
                         retryable=retryable)


def frame_exception(headers: dict[str, Any], payload: bytes) -> ProviderError | None:
    """The :class:`ProviderError` an event-stream ``exception``/``error`` frame carries, or
    None for any other frame.

    Example::

        if (err := frame_exception(message.headers, message.payload)) is not None:
            raise err
    """
    if headers.get(":message-type") not in ("exception", "error"):
        return None
    body = json.loads(payload or b"{}")
    name = headers.get(":exception-type") or headers.get(":error-code", "")
    return _error(str(name), str(body.get("message", "stream error")))


#: What reading an event stream may raise that :func:`stream_fault` turns into a ProviderError.
STREAM_FAULTS: tuple[type[BaseException], ...] = (
    ChecksumMismatch, InvalidHeadersLength, json.JSONDecodeError,  # orjson's is a subclass
    TimeoutError, OSError)


def stream_fault(target: TargetConfig, exc: BaseException) -> ProviderError:
    """The :class:`ProviderError` for a failure (one of :data:`STREAM_FAULTS`) while reading
    a Bedrock event stream: a bad frame is ``protocol``, the deadline ``timeout``, the rest
    ``connection``.

    Example::

        except STREAM_FAULTS as exc:
            raise stream_fault(target, exc) from None
    """
    if isinstance(exc, TimeoutError):
        return ProviderError("timeout", 504, f"{target.key}: stream stalled past the "
                             "deadline", retryable=True)
    if isinstance(exc, OSError):
        return ProviderError("connection", 502, f"{target.key}: stream cut "
                             f"({type(exc).__name__})", retryable=True)
    return ProviderError("protocol", 502, f"{target.key}: bad event-stream frame "
                         f"({type(exc).__name__})", retryable=True)


class _Credentials:
    """botocore's credential chain, resolved off the loop and cached."""

    def __init__(self) -> None:
        self._session = Session()
        self._frozen: Any = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    def _resolve(self) -> tuple[Any, float]:
        creds = self._session.get_credentials()
        if creds is None:
            raise LookupError("no AWS credentials found by botocore's standard chain")
        expiry = getattr(creds, "_expiry_time", None)
        expires = expiry.timestamp() if expiry is not None else time.time() + 3600
        return creds.get_frozen_credentials(), expires

    async def get(self) -> Any:
        if self._frozen is not None and time.time() < self._expires - _REFRESH_MARGIN:
            return self._frozen
        async with self._lock:
            if self._frozen is None or time.time() >= self._expires - _REFRESH_MARGIN:
                try:
                    self._frozen, self._expires = await asyncio.to_thread(self._resolve)
                except LookupError as exc:
                    raise ProviderError("auth", 503, str(exc), code="no_credentials",
                                        retryable=True) from None
            return self._frozen


class BedrockProvider:
    """Bedrock runtime provider (Converse, ConverseStream, InvokeModel for embeddings)."""

    #: nothing natively: every door's request is translated (see hub.fields)
    speaks: frozenset[str] = frozenset()

    def __init__(self, http: HttpClient | None = None) -> None:
        self.http = http or HttpClient()
        self.credentials = _Credentials()
        self._counter = 0
        self._messages: Any = None

    def _request_id(self) -> str:
        self._counter += 1
        return f"{os.getpid():x}-{self._counter:x}"

    async def _post(self, target: TargetConfig, path: str, body: dict[str, Any],
                    deadline: float, accept: str) -> UpstreamResponse:
        url = target.endpoint.rstrip("/") + path
        payload = json.dumps(body).encode()
        request = AWSRequest(method="POST", url=url, data=payload,
                             headers={"content-type": "application/json", "accept": accept})
        credentials = await self.credentials.get()
        SigV4Auth(credentials, "bedrock", target.region).add_auth(request)
        # after signing: traceparent is no signed header
        headers = with_trace(dict(request.headers.items()))
        try:
            with deadline_at(deadline):
                resp = await self.http.post(url, payload, headers, deadline)
        except TimeoutError:
            raise ProviderError("timeout", 504, f"{target.key}: no answer before the deadline",
                                retryable=True) from None
        except OSError as exc:
            raise ProviderError("connection", 502, f"{target.key}: {type(exc).__name__}",
                                retryable=True,
                                unreachable=isinstance(exc, UpstreamUnreachable)
                                ) from None
        if resp.status >= 400:
            try:
                with deadline_at(deadline):
                    text = (await resp.read(65536)).decode("utf-8", "replace")
            except (TimeoutError, OSError):
                text = ""
            finally:
                resp.release()
            try:
                message = json.loads(text).get("message") or text
            except (json.JSONDecodeError, AttributeError):
                message = text
            name = resp.headers.get("x-amzn-errortype", "")
            # AWS quotes the canonical request (with the session token) on a bad signature.
            message = redact(str(message), (credentials.access_key, credentials.secret_key,
                                            credentials.token))
            err = _error(name, message or resp.reason or "error", resp.status)
            if err.kind == "rate_limit":
                retry = resp.headers.get("retry-after")
                err.retry_after = float(retry) if retry and retry.isdigit() else None
            raise err
        return resp

    async def _json(self, target: TargetConfig, resp: UpstreamResponse,
                    deadline: float) -> dict[str, Any]:
        try:
            with deadline_at(deadline):
                data = await resp.read()
        except TimeoutError:
            raise ProviderError("timeout", 504, f"{target.key}: no answer before the deadline",
                                retryable=True) from None
        except OSError as exc:
            raise ProviderError("connection", 502, f"{target.key}: {type(exc).__name__}",
                                retryable=True) from None
        finally:
            resp.release()
        try:
            value = json.loads(data)
        except json.JSONDecodeError:
            raise ProviderError("protocol", 502, f"{target.key}: answer is not JSON",
                                retryable=True) from None
        if not isinstance(value, dict):
            raise ProviderError("protocol", 502, f"{target.key}: answer is not an object",
                                retryable=True)
        return value

    def _path(self, target: TargetConfig, op: str) -> str:
        return f"/model/{quote(target.model, safe='')}/{op}"

    async def chat(self, target: TargetConfig, request: dict[str, Any], *,
                   deadline: float) -> dict[str, Any]:
        """Converse: an OpenAI ``chat.completion``."""
        body = to_converse(request)
        if (guard := guardrails.guardrail_config(target, stream=False)) is not None:
            body["guardrailConfig"] = guard
        resp = await self._post(target, self._path(target, "converse"), body,
                                deadline, "application/json")
        data = await self._json(target, resp, deadline)
        if guard is not None and guardrails.blocked_prompt(data):
            raise guardrails.prompt_blocked_error(target)
        return from_converse(data, model=target.model, request_id=self._request_id())

    async def chat_stream(self, target: TargetConfig, request: dict[str, Any], *,
                          deadline: float) -> AsyncIterator[dict[str, Any]]:
        """ConverseStream: OpenAI chunks, the last one carrying usage."""
        body = to_converse(request)
        if (guard := guardrails.guardrail_config(target, stream=True)) is not None:
            body["guardrailConfig"] = guard
        resp = await self._post(target, self._path(target, "converse-stream"), body,
                                deadline, "application/vnd.amazon.eventstream")
        mapper = StreamMapper(model=target.model, request_id=self._request_id())
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
                        payload = json.loads(message.payload or b"{}")
                        name = str(headers.get(":event-type", ""))
                        chunk = mapper.event(name, payload)
                        if name == "metadata":
                            stopped = True
                        if chunk is not None:
                            yield chunk
        except STREAM_FAULTS as exc:
            raise stream_fault(target, exc) from None
        finally:
            resp.release()
        if not stopped:
            raise ProviderError("connection", 502, f"{target.key}: stream ended before its "
                                "metadata event", retryable=True)

    async def embeddings(self, target: TargetConfig, request: dict[str, Any], *,
                         deadline: float) -> dict[str, Any]:
        """Embeddings over InvokeModel (Titan: a call per string; Cohere: one call), in the
        format the client asked (base64 encoded here)."""
        bodies = request_bodies(target.model, request)
        encoding = request.get("encoding_format") or "float"
        data: list[dict[str, Any]] = []
        tokens = 0
        for body in bodies:
            resp = await self._post(target, self._path(target, "invoke"), body,
                                    deadline, "application/json")
            header_count = resp.headers.get("x-amzn-bedrock-input-token-count", "")
            value = await self._json(target, resp, deadline)
            for vector in vectors_of(target.model, value, expected_vectors(body)):
                data.append({"object": "embedding", "index": len(data),
                             "embedding": encode(vector, encoding)})
            count = value.get("inputTextTokenCount")
            tokens += (count if isinstance(count, int) and not isinstance(count, bool)
                       else int(header_count) if header_count.isdigit() else 0)
        return {"object": "list", "data": data, "model": target.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    # --- Anthropic Messages passthrough (Claude; hub.fields.speaks decides) ------------

    def _claude(self) -> Any:
        if self._messages is None:
            from skyrelay.gateway.providers.bedrock_anthropic import BedrockAnthropic
            self._messages = BedrockAnthropic(self)
        return self._messages

    async def passthrough(self, target: TargetConfig, request: Any, *,
                          deadline: float) -> Any:
        """InvokeModel with the client's Messages body (bedrock_anthropic)."""
        return await self._claude().passthrough(target, request, deadline=deadline)

    def passthrough_stream(self, target: TargetConfig, request: Any, *,
                           deadline: float) -> AsyncIterator[Any]:
        """InvokeModelWithResponseStream with the client's Messages body."""
        stream: AsyncIterator[Any] = self._claude().passthrough_stream(
            target, request, deadline=deadline)
        return stream

    async def aclose(self) -> None:
        """The pool belongs to the registry's HttpClient; nothing of our own to close."""
