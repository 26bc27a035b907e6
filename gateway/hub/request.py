"""The internal request: what a front door parsed, in the hub's canonical shape.

The canonical body is the OpenAI Chat Completions shape for ``op == "chat"`` and the OpenAI
embeddings shape for ``op == "embeddings"``: validated by the door, read by the
translating providers (Bedrock Converse), forwarded as-is to targets that speak it. A door
whose API differs (Responses, Anthropic Messages) converts into the canonical body and
keeps the client's own body in ``native`` for targets that speak that API (passthrough).

Example::

    req = Request(op="chat", api=API_CHAT, model="gpt-4o", body=body,
                  stream=body.get("stream") is True)
    req.native_body()   # the client's body (``body`` itself for the chat door)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: What a route is asked for. Routes of kind "chat" serve "chat", "embedding" serve
#: "embeddings".
Operation = Literal["chat", "embeddings"]

#: Client APIs (a door speaks one; a provider ``speaks`` a set of them, for passthrough).
API_CHAT = "openai.chat_completions"
API_EMBEDDINGS = "openai.embeddings"
API_RESPONSES = "openai.responses"
API_MESSAGES = "anthropic.messages"

#: The route kind (spec) that serves each operation.
ROUTE_KIND: dict[str, str] = {"chat": "chat", "embeddings": "embedding"}


@dataclass(slots=True)
class PathParams:
    """What the URL said beyond the body: a route named in the path (Azure-style
    ``/openai/deployments/{route}/...``), the query's api-version, the door's own flags."""

    route: str | None = None
    api_version: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Request:
    """One parsed client request.

    ``op``: what the route must serve; ``api``: the client's API (``API_*``); ``model``: the
    route name asked for; ``body``: the canonical body (see the module docstring);
    ``native``: the client's own body when it is not ``body`` (passthrough to targets that
    speak ``api``); ``stream``/``include_usage``: streaming and whether the client asked for
    the usage chunk; ``estimate``: ``(input_tokens, output_tokens)`` for limits and
    budgets; ``encoding``: for embeddings, what the client wants back (``float`` or
    ``base64``, encoded by the gateway); ``door_state``: the door's own data for rendering.
    """

    op: Operation
    api: str
    model: str
    body: dict[str, Any]
    stream: bool = False
    include_usage: bool = False
    native: dict[str, Any] | None = None
    estimate: tuple[int, int] = (0, 0)
    encoding: str = "float"
    params: PathParams | None = None
    door_state: dict[str, Any] | None = None

    def native_body(self) -> dict[str, Any]:
        """The client's body in its own API (what a passthrough target receives)."""
        return self.body if self.native is None else self.native

    @property
    def route_kind(self) -> str:
        """The spec's route kind that may serve this request (``chat`` | ``embedding``)."""
        return ROUTE_KIND[self.op]
