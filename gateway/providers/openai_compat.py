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

This module builds the requests (URL, auth headers, body) and speaks the Provider protocol;
the error mapping is :mod:`.openai_errors`, SSE parsing :mod:`.openai_sse`, bounded reads
:mod:`.openai_wire_io` and Entra tokens :mod:`.azure_entra` (their public names are
importable from here too).

Example::

    provider = OpenAICompatProvider(HttpClient())
    answer = await provider.chat(target, {"model": "gpt-4o", "messages": [...]},
                                 deadline=loop.time() + 30)
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

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
from skyrelay.gateway.providers.azure_entra import AZURE_SCOPE, EntraTokenCache
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.http import HttpClient, UpstreamResponse
from skyrelay.gateway.providers.openai_errors import (
    MAX_ERROR_BYTES,
    MAX_MESSAGE,
    error_from_response,
    parse_retry_after,
    protocol,
)
from skyrelay.gateway.providers.openai_sse import MAX_EVENT_BYTES, SSEParser
from skyrelay.gateway.providers.openai_wire_io import (
    MAX_BODY_BYTES,
    drain,
    post,
    read_chunk,
    read_json,
)

# The names other modules and tests import from here (moved to one module per job).
__all__ = ["AZURE_SCOPE", "DEFAULT_AZURE_API_VERSION", "DRAIN_WAIT", "MAX_BODY_BYTES",
           "MAX_ERROR_BYTES", "MAX_EVENT_BYTES", "EntraTokenCache", "OpenAICompatProvider",
           "SSEParser", "error_from_response", "key_env_var", "parse_retry_after"]

#: The Azure OpenAI data-plane API version used unless configured otherwise (GA).
DEFAULT_AZURE_API_VERSION = "2024-10-21"
#: How long the end of a stream waits for the body's last bytes before draining in background.
DRAIN_WAIT = 0.02


def key_env_var(target: TargetConfig) -> str:
    """The variable that may hold the key of a target whose spec entry names no reference
    (local development; a spec ``api_key`` reference wins)."""
    name = target.account or (urlsplit(target.endpoint).hostname or "")
    prefix = AZURE_KEY_PREFIX if target.cloud == "azure" else OPENAI_KEY_PREFIX
    return prefix + env_suffix(name)


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
            raise protocol(target, "the upstream's chat completion has no 'choices' array")
        return value

    async def embeddings(self, target: TargetConfig, request: dict[str, Any], *,
                         deadline: float) -> dict[str, Any]:
        """Embeddings (the upstream's ``list`` of ``embedding`` objects)."""
        body = orjson.dumps({**request, "model": target.model})
        value = await self._call(target, "embeddings", body, deadline)
        if not isinstance(value.get("data"), list):
            raise protocol(target, "the upstream's embeddings answer has no 'data' array")
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
                raise protocol(target, f"the upstream answered a stream with content-type "
                               f"{ctype!r}, not text/event-stream")
            parser = SSEParser()
            while not done:
                data = await read_chunk(target, resp, deadline)
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
            elif resp.at_eof():
                resp.release()  # back to the pool
            else:
                # [DONE] came before the end of the body (the chunked terminator is usually
                # a separate write, microseconds later): give it a moment so the connection
                # is back in the pool for the next request, then leave the rest to a
                # background task rather than make the client wait.
                task = asyncio.get_running_loop().create_task(drain(resp))
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
            raise protocol(target, "the upstream stream sent data that is not JSON") from None
        if not isinstance(chunk, dict):
            raise protocol(target, "the upstream stream sent data that is not a JSON object")
        error = chunk.get("error")
        if error is not None or event == "error":
            message = error.get("message") if isinstance(error, dict) else error
            code = error.get("code") if isinstance(error, dict) else None
            raise ProviderError("server", 502, f"{target.key}: the upstream stream failed: "
                                f"{str(message or payload[:200])[:MAX_MESSAGE]}",
                                code=code if isinstance(code, str) else None, retryable=True)
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise protocol(target, "an upstream stream chunk has no 'choices' array")
        if not choices and chunk.get("usage") is None:
            return None  # Azure's prompt_filter_results chunk: nothing for the client
        return chunk

    async def _open(self, target: TargetConfig, op: str, body: bytes,
                    deadline: float) -> UpstreamResponse:
        """POST and return the 200 response with its body unread (raises ProviderError)."""
        url = self.url(target, op)
        headers = await self.headers(target, deadline)
        sent = [headers.get("api-key", ""), headers.get("authorization", "")[7:]]
        return await post(self.http, target, url, body, headers, deadline, sent)

    async def _call(self, target: TargetConfig, op: str, body: bytes,
                    deadline: float) -> dict[str, Any]:
        resp = await self._open(target, op, body, deadline)
        return await read_json(target, resp, deadline)
