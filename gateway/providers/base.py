"""The contract every upstream provider implements, and the errors they raise.

Providers speak OpenAI's chat-completions and embeddings shapes on the gateway side and
their upstream's wire format on the other. The router (gateway/router) picks targets and
decides on fallback from :class:`ProviderError` alone, so every upstream failure must be
turned into one, with ``retryable`` set truthfully.

Example::

    provider = registry.for_target(target)
    body = await provider.chat(target, request, deadline=loop.time() + 30)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from skyrelay.gateway.config import TargetConfig

ErrorKind = Literal[
    "rate_limit",      # 429 / throttling: retryable, honour retry_after
    "server",          # 5xx: retryable
    "timeout",         # no answer before the deadline: retryable
    "connection",      # refused / reset / DNS: retryable
    "content_filter",  # refused by the upstream's content policy: NOT a fault, no fallback
    "bad_request",     # the request itself is invalid: not retryable
    "auth",            # upstream credentials rejected: retryable on another target
    "protocol",        # upstream answered something unparseable (bad JSON/SSE/CRC): retryable
]


@dataclass
class ProviderError(Exception):
    """An upstream failure, classified for the router.

    ``status`` is the HTTP status to give the client if this error ends the request;
    ``retryable`` says whether another attempt (same or next target) may help;
    ``retry_after`` is seconds from the upstream's Retry-After (or Bedrock equivalent);
    ``code``/``message`` become OpenAI's error ``code``/``message``;
    ``unreachable`` marks a connection that could not be made at all (refused, DNS, no
    route): the target is down, so its breaker opens at once. A connection dropped after it
    was made (reset, cut body) is one failed request and counts like a 5xx.
    """

    kind: ErrorKind
    status: int
    message: str
    code: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    unreachable: bool = False
    #: the request field the upstream blamed (OpenAI's error ``param``), kept for the client
    param: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)


#: What :func:`redact` puts where a credential was.
REDACTED = "[redacted]"


def redact(text: str, credentials: Iterable[str | None]) -> str:
    """``text`` with every credential in ``credentials`` replaced by :data:`REDACTED`.

    Upstream error text reaches clients and logs, and upstreams may quote the credential
    they refused: AWS puts the canonical request, ``x-amz-security-token`` included, into
    ``InvalidSignatureException``; some OpenAI-compatible proxies echo the key. Apply it
    before truncating, or a cut credential escapes the match.
    """
    for credential in credentials:
        if credential and len(credential) >= 8 and credential in text:
            text = text.replace(credential, REDACTED)
    return text


class Provider(Protocol):
    """One upstream wire format. Instances are long-lived and hold pooled connections.

    ``speaks`` is the set of client APIs (``skyrelay.gateway.hub.request.API_*``) the
    provider accepts natively for a target; a request in one of them may be passed through
    with ``passthrough(target, request, deadline=...)`` (a ``hub.response.Result``) and
    ``passthrough_stream(...)`` (``hub.events.NativeEvent`` items). Providers that speak
    nothing natively translate the canonical body in ``chat``/``chat_stream``/``embeddings``.
    """

    speaks: frozenset[str]

    async def chat(self, target: TargetConfig, request: dict[str, Any], *,
                   deadline: float) -> dict[str, Any]:
        """Non-streaming chat: return an OpenAI ``chat.completion`` object (with ``usage``).

        ``deadline`` is an absolute ``loop.time()`` by which the call must finish; raise
        ``ProviderError(kind="timeout")`` past it.
        """
        ...

    def chat_stream(self, target: TargetConfig, request: dict[str, Any], *,
                    deadline: float) -> AsyncIterator[dict[str, Any]]:
        """Streaming chat: yield OpenAI ``chat.completion.chunk`` objects.

        The last chunk carries ``usage`` (with ``choices: []``) whenever the upstream reports
        usage, regardless of the client's ``stream_options``; the server decides whether to
        forward it. Raise :class:`ProviderError` on failure, before or after the first chunk.
        Empty Azure ``choices: []`` prompt-filter chunks are dropped, never yielded.
        """
        ...

    async def embeddings(self, target: TargetConfig, request: dict[str, Any], *,
                         deadline: float) -> dict[str, Any]:
        """Embeddings: return an OpenAI ``list`` of ``embedding`` objects with ``usage``."""
        ...

    async def aclose(self) -> None:
        """Close pooled connections."""
        ...
