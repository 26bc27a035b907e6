"""Azure OpenAI and any OpenAI-compatible upstream (OpenAI itself, vLLM, ...), over HTTP.

One :class:`OpenAICompatProvider` serves every ``azure`` and ``openai`` target:

- **azure**, v1 data plane (the default): ``{endpoint}/openai/v1/chat/completions`` (and
  ``/embeddings``), no api-version, the deployment as ``model`` in the body
  (learn.microsoft.com/azure/foundry/openai/api-version-lifecycle); **classic** (the
  account's ``api: classic``): ``{endpoint}/openai/deployments/{deployment}/...
  ?api-version=V`` (the account's ``api_version``, else ``SKYRELAY_AZURE_API_VERSION``,
  else 2024-10-21). Auth is the ``api-key`` header when ``SKYRELAY_AZURE_KEY_<ACCOUNT>`` is
  set, else a Microsoft Entra bearer token (:class:`EntraTokenCache`, scope
  ``https://cognitiveservices.azure.com/.default``).
- **openai**: ``{endpoint}/chat/completions`` (and ``/embeddings``); ``target.model`` is the
  upstream model; ``Authorization: Bearer`` with the key the spec's ``api_key`` reference
  names (``{env: VAR}`` -> ``VAR``; ``{secret: NAME}`` -> ``SKYRELAY_SECRET_<NAME>`` or the
  mounted file), read as :mod:`skyrelay.gateway.envnames` says, which is where the stack
  puts it. Without a reference, ``SKYRELAY_OPENAI_KEY_<ENDPOINT>`` (local development).

``<ACCOUNT>``/``<ENDPOINT>`` is the target's account (Azure account or compatible endpoint
name from the spec; the URL's host when empty), upper-cased with every other character
than A-Z and 0-9 turned into ``_``: account ``oai-eu-1`` -> ``SKYRELAY_AZURE_KEY_OAI_EU_1``.

Every upstream failure becomes a :class:`ProviderError` the router can act on; a prompt
refused by Azure's content filter is ``content_filter`` (not a fault, no fallback).

Example::

    provider = OpenAICompatProvider(HttpClient())
    answer = await provider.chat(target, {"model": "gpt-4o", "messages": [...]},
                                 deadline=loop.time() + 30)
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.envnames import (
    AZURE_KEY_PREFIX,
    OPENAI_KEY_PREFIX,
    env_suffix,
    resolve_reference,
    secrets_dir_of,
)
from skyrelay.gateway.hub.fields import SPEAKS
from skyrelay.gateway.providers.base import ProviderError, redact
from skyrelay.gateway.providers.http import HttpClient

#: The Azure OpenAI data-plane API version used unless configured otherwise (GA).
DEFAULT_AZURE_API_VERSION = "2024-10-21"
#: The Entra scope of Azure OpenAI / Cognitive Services.
AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
#: Inner codes Azure uses for a prompt its content filter refused.
_FILTER_CODES = frozenset({"content_filter", "ResponsibleAIPolicyViolation", "ContentFiltered"})
#: One SSE event may not exceed this (a stream that never sends a newline is not SSE).
MAX_EVENT_BYTES = 8 * 1024 * 1024
#: A non-streamed answer larger than this is refused (memory stays bounded per request).
MAX_BODY_BYTES = 64 * 1024 * 1024
#: Error bodies are read up to this size only.
MAX_ERROR_BYTES = 64 * 1024
#: How long the end of a stream waits for the body's last bytes before draining in background.
DRAIN_WAIT = 0.02
#: Retry-After values beyond this are treated as this (the breaker cools down, not forever).
MAX_RETRY_AFTER = 3600.0
_MAX_MESSAGE = 1000


def key_env_var(target: TargetConfig) -> str:
    """The variable that may hold the key of a target whose spec entry names no reference
    (local development; a spec ``api_key`` reference wins)."""
    name = target.account or (urlsplit(target.endpoint).hostname or "")
    prefix = AZURE_KEY_PREFIX if target.cloud == "azure" else OPENAI_KEY_PREFIX
    return prefix + env_suffix(name)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``x-ms-retry-after-ms`` or ``retry-after``.

    ``retry-after`` may be seconds or an HTTP date. Unparseable values give None; the
    result is clamped to ``[0, MAX_RETRY_AFTER]``.
    """
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value is not None:
            try:
                return min(max(float(value) / 1000.0, 0.0), MAX_RETRY_AFTER)
            except ValueError:
                pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)


def error_from_response(status: int, headers: Mapping[str, str], raw: bytes,
                        credentials: Sequence[str] = ()) -> ProviderError:
    """Classify a non-200 upstream answer (OpenAI/Azure error shape, or anything else).

    ``credentials`` (what the request carried) are redacted from the upstream's message.
    """
    message = ""
    code: str | None = None
    param: str | None = None
    inner: str | None = None
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = redact(str(error.get("message") or ""), credentials)[:_MAX_MESSAGE]
        code = error.get("code") if isinstance(error.get("code"), str) else None
        param = error.get("param")[:200] if isinstance(error.get("param"), str) else None
        details = error.get("innererror")
        if isinstance(details, dict) and isinstance(details.get("code"), str):
            inner = details["code"]
    elif isinstance(error, str):  # some compatible servers answer {"error": "text"}
        message = redact(error, credentials)[:_MAX_MESSAGE]
    if not message:
        snippet = (redact(raw[:MAX_ERROR_BYTES].decode("utf-8", "replace"), credentials)
                   [:200].strip() if body is None else "")
        message = f"upstream answered HTTP {status}" + (f": {snippet}" if snippet else "")
    if status == 400 and (code in _FILTER_CODES or inner in _FILTER_CODES):
        return ProviderError("content_filter", 400, message, code="content_filter",
                             retryable=False, param=param)
    if status == 429:
        return ProviderError("rate_limit", 429, message, code=code, retryable=True,
                             retry_after=parse_retry_after(headers))
    if status >= 500:
        return ProviderError("server", status, message, code=code, retryable=True,
                             retry_after=parse_retry_after(headers))
    if status in (401, 403):
        return ProviderError("auth", status, message, code=code, retryable=True)
    if status == 408:
        return ProviderError("timeout", 504, message, code=code, retryable=True)
    if 400 <= status < 500:
        return ProviderError("bad_request", status, message, code=code, retryable=False,
                             param=param)
    # 1xx/3xx (redirects are not followed): the upstream is not speaking the API.
    return ProviderError("protocol", 502, message, code=code, retryable=True)


class SSEParser:
    """Incremental server-sent-events parser yielding each event's ``data``.

    Strict on purpose: a line that is not an SSE field (``data``, ``event``, ``id``,
    ``retry``) or comment raises ``ProviderError(kind="protocol")``, so an upstream answering
    something else is a fault, not a silently empty stream.
    """

    __slots__ = ("_buffer", "_data", "_event", "_size")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event = b""
        self._size = 0  # bytes of the event being built (its data lines together)

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        """Add bytes; return the completed events as ``(event_name, data)``."""
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\n" not in buffer:
            if len(buffer) > MAX_EVENT_BYTES:
                raise ProviderError("protocol", 502, "an upstream SSE line exceeds "
                                    f"{MAX_EVENT_BYTES} bytes", retryable=True)
            self._buffer = buffer
            return []
        *lines, self._buffer = buffer.split(b"\n")
        events: list[tuple[str, bytes]] = []
        for line in lines:
            self._line(line[:-1] if line.endswith(b"\r") else line, events)
        return events

    def close(self) -> list[tuple[str, bytes]]:
        """End of input: the last event if it lacked its blank line."""
        events: list[tuple[str, bytes]] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r"), events)
            self._buffer = b""
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[tuple[str, bytes]]) -> None:
        if not line:
            if self._data:
                events.append((self._event.decode("utf-8", "replace") or "message",
                               b"\n".join(self._data)))
            self._data, self._event, self._size = [], b"", 0
            return
        if line.startswith(b":"):
            return
        field, sep, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            self._size += len(value) + 1
            if self._size > MAX_EVENT_BYTES:  # many lines without a blank one: one event
                raise ProviderError("protocol", 502, "an upstream SSE event exceeds "
                                    f"{MAX_EVENT_BYTES} bytes", retryable=True)
            self._data.append(value)
        elif field == b"event":
            self._event = value
        elif field in (b"id", b"retry") and sep:
            return
        else:
            text = line[:80].decode("utf-8", "replace")
            raise ProviderError("protocol", 502, f"the upstream sent a line that is not SSE: "
                                f"{text!r}", retryable=True)


CredentialFactory = Callable[[], Any]


def _default_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


class EntraTokenCache:
    """Microsoft Entra bearer tokens for Azure OpenAI, cached and refreshed before expiry.

    ``credential_factory`` builds an azure-identity (sync) credential, by default
    ``DefaultAzureCredential()`` (managed identity, workload identity, environment, CLI).
    Building it and ``get_token`` run in a worker thread, never on the event loop; one
    refresh at a time (concurrent callers wait for it). A token is refreshed once it has
    less than ``refresh_margin`` seconds left.
    """

    def __init__(self, credential_factory: CredentialFactory | None = None, *,
                 scope: str = AZURE_SCOPE, refresh_margin: float = 300.0) -> None:
        self.credential_factory = credential_factory or _default_credential
        self.scope = scope
        self.refresh_margin = refresh_margin
        self._credential: Any = None
        self._token = ""
        self._expires_on = 0.0
        self._lock: asyncio.Lock | None = None

    def _fresh(self) -> bool:
        return bool(self._token) and self._expires_on - self.refresh_margin > time.time()

    async def token(self, deadline: float) -> str:
        """A valid access token (fetched if needed before ``deadline``, loop time)."""
        if self._fresh():
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        try:
            async with asyncio.timeout_at(deadline), self._lock:
                if self._fresh():
                    return self._token
                if self._credential is None:
                    self._credential = await asyncio.to_thread(self.credential_factory)
                access = await asyncio.to_thread(self._credential.get_token, self.scope)
        except TimeoutError:
            raise ProviderError("timeout", 504, "no Microsoft Entra token before the deadline",
                                retryable=True) from None
        except ImportError as err:
            raise ProviderError("auth", 401, f"azure-identity is not installed ({err}); set "
                                "an api key instead", retryable=True) from None
        except Exception as err:  # azure-identity raises many types; all mean "no token"
            raise ProviderError("auth", 401, "could not get a Microsoft Entra token: "
                                f"{type(err).__name__}: {str(err)[:300]}",
                                retryable=True) from None
        self._token, self._expires_on = access.token, float(access.expires_on)
        return self._token

    async def aclose(self) -> None:
        """Close the credential (its HTTP pipeline), off the loop."""
        credential, self._credential = self._credential, None
        close = getattr(credential, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


def _timeout(target: TargetConfig) -> ProviderError:
    return ProviderError("timeout", 504, f"{target.key}: no answer before the deadline",
                         retryable=True)


def _connection(target: TargetConfig, err: BaseException) -> ProviderError:
    return ProviderError("connection", 502, f"{target.key}: connection failed "
                         f"({type(err).__name__}: {str(err)[:200]})", retryable=True,
                         unreachable=isinstance(err, aiohttp.ClientConnectorError))


def _protocol(target: TargetConfig, what: str) -> ProviderError:
    return ProviderError("protocol", 502, f"{target.key}: {what}", retryable=True)


async def _drain(resp: aiohttp.ClientResponse, limit: float = 2.0) -> None:
    """Read what is left of a finished stream, then pool the connection (or close it)."""
    try:
        async with asyncio.timeout(limit):
            while await resp.content.readany():
                pass
    except (TimeoutError, aiohttp.ClientError, OSError):
        resp.close()
        return
    resp.release()


async def _read_up_to(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body up to ``limit`` bytes (all segments, not just the first that arrived)."""
    parts: list[bytes] = []
    size = 0
    async for part in resp.content.iter_any():
        parts.append(part)
        size += len(part)
        if size >= limit:
            break
    return b"".join(parts)[:limit]


class OpenAICompatProvider:
    """The :class:`~skyrelay.gateway.providers.base.Provider` for ``azure`` and ``openai``.

    ``http`` is the shared pooled client; ``azure_api_version`` the Azure data-plane
    version; ``environ`` where api keys are read (each request, so rotated keys apply);
    ``tokens`` the Entra token cache used for Azure targets without an api key.

    Example::

        provider = OpenAICompatProvider(HttpClient(), azure_api_version="2024-10-21")
        async for chunk in provider.chat_stream(target, request, deadline=deadline):
            ...
    """

    #: Chat Completions and embeddings natively (Azure and compatible servers)
    speaks: frozenset[str] = SPEAKS["openai_compatible"]

    def __init__(self, http: HttpClient | None = None, *,
                 azure_api_version: str = DEFAULT_AZURE_API_VERSION,
                 environ: Mapping[str, str] | None = None,
                 tokens: EntraTokenCache | None = None) -> None:
        if not azure_api_version or not re.fullmatch(r"[0-9A-Za-z.\-]+", azure_api_version):
            raise ValueError(f"invalid Azure api-version {azure_api_version!r}")
        self.http = http or HttpClient()
        self.azure_api_version = azure_api_version
        self.environ = os.environ if environ is None else environ
        self.tokens = tokens or EntraTokenCache()
        self._urls: dict[tuple[str, str], str] = {}
        self._key_vars: dict[str, str] = {}
        self._draining: set[asyncio.Task[None]] = set()

    # --- request building ---------------------------------------------------------------

    def url(self, target: TargetConfig, op: str) -> str:
        """The upstream URL of ``op`` (``chat/completions`` or ``embeddings``) for ``target``."""
        cache_key = (target.key, op)
        url = self._urls.get(cache_key)
        if url is None:
            base = target.endpoint.rstrip("/")
            if not base.startswith(("http://", "https://")):
                raise ProviderError("bad_request", 400, f"{target.key}: endpoint "
                                    f"{target.endpoint!r} is not an http(s) URL")
            if target.cloud == "azure" and target.api == "classic":
                version = target.api_version or self.azure_api_version
                url = (f"{base}/openai/deployments/{quote(target.model, safe='')}/{op}"
                       f"?api-version={quote(version, safe='')}")
            elif target.cloud == "azure":  # the v1 data plane: no api-version, model in body
                url = f"{base}/openai/v1/{op}"
            else:
                url = f"{base}/{op}"
            self._urls[cache_key] = url
        return url

    async def headers(self, target: TargetConfig, deadline: float) -> dict[str, str]:
        """Request headers with the target's credentials."""
        headers = {"content-type": "application/json", "accept": "application/json",
                   "user-agent": "skyrelay-gateway"}
        if target.api_key is not None:  # the spec's reference, read where the stack put it
            key = resolve_reference(target.api_key, self.environ,
                                    secrets_dir_of(self.environ))
        else:
            var = self._key_vars.get(target.key)
            if var is None:
                var = self._key_vars[target.key] = key_env_var(target)
            key = self.environ.get(var)
        if target.cloud == "azure":
            if key:
                headers["api-key"] = key
            else:
                headers["authorization"] = "Bearer " + await self.tokens.token(deadline)
        elif key:
            headers["authorization"] = "Bearer " + key
        return headers

    @staticmethod
    def chat_body(target: TargetConfig, request: dict[str, Any], stream: bool) -> bytes:
        """The upstream chat body: the client's, with the target's model and stream flags.

        Streams always ask for usage (``stream_options.include_usage``) so the last chunk
        carries it; the server forwards it only to clients who asked.
        """
        body = dict(request)
        body["model"] = target.model
        body["stream"] = stream
        if stream:
            options = request.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}),
                                      "include_usage": True}
        else:
            body.pop("stream_options", None)
        return orjson.dumps(body)

    # --- the Provider protocol ----------------------------------------------------------

    async def chat(self, target: TargetConfig, request: dict[str, Any], *,
                   deadline: float) -> dict[str, Any]:
        """Non-streamed chat completion (the upstream's ``chat.completion`` object)."""
        value = await self._call(target, "chat/completions",
                                 self.chat_body(target, request, False), deadline)
        if not isinstance(value.get("choices"), list):
            raise _protocol(target, "the upstream's chat completion has no 'choices' array")
        return value

    async def embeddings(self, target: TargetConfig, request: dict[str, Any], *,
                         deadline: float) -> dict[str, Any]:
        """Embeddings (the upstream's ``list`` of ``embedding`` objects)."""
        body = orjson.dumps({**request, "model": target.model})
        value = await self._call(target, "embeddings", body, deadline)
        if not isinstance(value.get("data"), list):
            raise _protocol(target, "the upstream's embeddings answer has no 'data' array")
        return value

    async def chat_stream(self, target: TargetConfig, request: dict[str, Any], *,
                          deadline: float) -> AsyncIterator[dict[str, Any]]:
        """Streamed chat: ``chat.completion.chunk`` objects; the last one carries usage.

        Azure's ``choices: []`` prompt-filter chunks (no usage) are dropped. A stream that
        ends before ``data: [DONE]`` raises ``connection``; a stall past the deadline
        raises ``timeout``; bytes that are not SSE/JSON raise ``protocol``.
        """
        resp = await self._open(target, "chat/completions",
                                self.chat_body(target, request, True), deadline)
        done = False
        try:
            ctype = resp.headers.get("content-type", "")
            if not ctype.startswith("text/event-stream"):
                raise _protocol(target, f"the upstream answered a stream with content-type "
                                f"{ctype!r}, not text/event-stream")
            parser = SSEParser()
            content = resp.content
            while not done:
                try:
                    async with asyncio.timeout_at(deadline):
                        data = await content.readany()
                except TimeoutError:
                    raise _timeout(target) from None
                except (aiohttp.ClientError, OSError) as err:
                    raise _connection(target, err) from None
                events = parser.feed(data) if data else parser.close()
                for name, payload in events:
                    if payload == b"[DONE]":
                        done = True
                        break
                    chunk = self._chunk(target, name, payload)
                    if chunk is not None:
                        yield chunk
                if not data and not done:
                    raise ProviderError("connection", 502, f"{target.key}: the upstream "
                                        "stream ended before [DONE]", retryable=True)
        finally:
            if not done:
                resp.close()  # a half-read stream must not be reused
            elif resp.content.at_eof():
                resp.release()  # back to the pool
            else:
                # [DONE] came before the end of the body (the chunked terminator is usually
                # a separate write, microseconds later): give it a moment so the connection
                # is back in the pool for the next request, then leave the rest to a
                # background task rather than make the client wait.
                task = asyncio.get_running_loop().create_task(_drain(resp))
                await asyncio.wait((task,), timeout=DRAIN_WAIT)
                if not task.done():
                    self._draining.add(task)
                    task.add_done_callback(self._draining.discard)

    # --- Responses passthrough (Azure OpenAI v1; hub.fields.SPEAKS decides) -------------

    async def passthrough(self, target: TargetConfig, request: Any, *,
                          deadline: float) -> Any:
        """The client's Responses body to Azure (``providers.azure_responses``)."""
        from skyrelay.gateway.providers import azure_responses

        return await azure_responses.passthrough(self, target, request, deadline=deadline)

    def passthrough_stream(self, target: TargetConfig, request: Any, *,
                           deadline: float) -> AsyncIterator[Any]:
        """The streamed response's events (``providers.azure_responses``)."""
        from skyrelay.gateway.providers import azure_responses

        return azure_responses.passthrough_stream(self, target, request, deadline=deadline)

    async def aclose(self) -> None:
        """Close the pool and the Entra credential."""
        for task in list(self._draining):
            task.cancel()
        await self.http.aclose()
        await self.tokens.aclose()

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _chunk(target: TargetConfig, event: str, payload: bytes) -> dict[str, Any] | None:
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise _protocol(target, "the upstream stream sent data that is not JSON") from None
        if not isinstance(chunk, dict):
            raise _protocol(target, "the upstream stream sent data that is not a JSON object")
        error = chunk.get("error")
        if error is not None or event == "error":
            message = error.get("message") if isinstance(error, dict) else error
            code = error.get("code") if isinstance(error, dict) else None
            raise ProviderError("server", 502, f"{target.key}: the upstream stream failed: "
                                f"{str(message or payload[:200])[:_MAX_MESSAGE]}",
                                code=code if isinstance(code, str) else None, retryable=True)
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise _protocol(target, "an upstream stream chunk has no 'choices' array")
        if not choices and chunk.get("usage") is None:
            return None  # Azure's prompt_filter_results chunk: nothing for the client
        return chunk

    async def _open(self, target: TargetConfig, op: str, body: bytes,
                    deadline: float) -> aiohttp.ClientResponse:
        """POST and return the 200 response with its body unread (raises ProviderError)."""
        url = self.url(target, op)
        headers = await self.headers(target, deadline)
        resp: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout_at(deadline):
                resp = await self.http.session().post(url, data=body, headers=headers,
                                                      timeout=self.http.timeout(deadline),
                                                      allow_redirects=False)
                if resp.status == 200:
                    return resp
                raw = await _read_up_to(resp, MAX_ERROR_BYTES)
        except TimeoutError:
            if resp is not None:
                resp.close()
            raise _timeout(target) from None
        except (aiohttp.ClientError, OSError) as err:
            if resp is not None:
                resp.close()
            raise _connection(target, err) from None
        resp.close()  # the rest of an error body is not worth reading to keep the socket
        sent = [headers.get("api-key", ""), headers.get("authorization", "")[7:]]
        raise error_from_response(resp.status, resp.headers, raw, sent)

    async def _call(self, target: TargetConfig, op: str, body: bytes,
                    deadline: float) -> dict[str, Any]:
        resp = await self._open(target, op, body, deadline)
        declared = resp.content_length
        if declared is not None and declared > MAX_BODY_BYTES:
            resp.close()
            raise _protocol(target, f"the upstream's answer ({declared} bytes) exceeds "
                            f"{MAX_BODY_BYTES} bytes")
        try:
            async with asyncio.timeout_at(deadline):
                parts: list[bytes] = []
                size = 0
                async for part in resp.content.iter_any():
                    size += len(part)
                    if size > MAX_BODY_BYTES:
                        resp.close()
                        raise _protocol(target, f"the upstream's answer exceeds "
                                        f"{MAX_BODY_BYTES} bytes")
                    parts.append(part)
                raw = b"".join(parts)
        except TimeoutError:
            resp.close()
            raise _timeout(target) from None
        except (aiohttp.ClientError, OSError) as err:
            resp.close()
            raise _connection(target, err) from None
        resp.release()
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _protocol(target, "the upstream answered invalid JSON") from None
        if not isinstance(value, dict):
            raise _protocol(target, "the upstream answered JSON that is not an object")
        return value
