"""Rough token estimates from a request, before any upstream has counted them.

Used to rank targets by cost (``lowest-cost``) and by tenancy to reserve budget before
dispatch. About four characters per token for text, a fixed overhead per message, and the
request's own output cap (``max_completion_tokens`` / ``max_tokens``) or a default for the
output. Deliberately cheap: it walks the request once and never tokenizes.

Example::

    >>> estimate_chat({"messages": [{"role": "user", "content": "hello there"}],
    ...                "max_tokens": 10})
    (10, 10)
"""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4
PER_IMAGE = 765  # a high-detail 512px tile budget, a fair middle for images
DEFAULT_OUTPUT = 512


def _text_tokens(value: Any) -> int:
    if isinstance(value, str):
        return (len(value) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
    if isinstance(value, list):
        total = 0
        for part in value:
            if isinstance(part, dict):
                kind = part.get("type")
                if kind == "text":
                    total += _text_tokens(part.get("text"))
                elif kind in ("image_url", "input_image", "image"):
                    total += PER_IMAGE
                else:
                    total += _text_tokens(str(part))
            else:
                total += _text_tokens(part)
        return total
    if value is None:
        return 0
    return _text_tokens(str(value))


def estimate_chat(request: dict[str, Any]) -> tuple[int, int]:
    """``(input_tokens, output_tokens)`` estimated for a chat-completions request."""
    total = 3
    messages = request.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            total += PER_MESSAGE + _text_tokens(message.get("content"))
            calls = message.get("tool_calls")
            if calls:
                total += _text_tokens(str(calls))
    tools = request.get("tools")
    if tools:
        total += _text_tokens(str(tools))
    cap = request.get("max_completion_tokens") or request.get("max_tokens")
    output = cap if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0 \
        else DEFAULT_OUTPUT
    n = request.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        output *= n
    return total, output


def estimate_embeddings(request: dict[str, Any]) -> tuple[int, int]:
    """``(input_tokens, 0)`` estimated for an embeddings request."""
    value = request.get("input")
    if isinstance(value, list) and value and isinstance(value[0], int):
        return len(value), 0  # already token ids
    if isinstance(value, list) and value and isinstance(value[0], list):
        return sum(len(v) for v in value if isinstance(v, list)), 0
    return max(1, _text_tokens(value)), 0
