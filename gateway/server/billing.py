"""What a request is billed: the upstream's figures when sane, else what was delivered.

Upstream usage is validated once, by :meth:`skyrelay.gateway.hub.response.Usage.parse`.
The rule (README, "Billing"): once an upstream has been given the prompt, the tenant is
charged at least the request's input estimate, plus the output that reached the client,
counted as it passed (about four characters a token, like the estimate). When the upstream
reports usage and the figures are sane, they are used instead. Sane means integers from 0 to
:data:`MAX_TOKENS`; anything else is clamped (a negative count to 0, a float rounded, more
than the cap to the cap; a count that is not a number is replaced by the fallback figure)
and logged once per target with the offending value, and the record is still written.

Example::

    ctx.delivered_chars += delivered_chars(chunk)          # for every chunk sent
    input_tokens, output_tokens, source = billable(ctx)    # in the finish step
"""

from __future__ import annotations

import logging
from typing import Any

from skyrelay.gateway.hub.response import MAX_TOKENS, Usage, sane_count
from skyrelay.gateway.router.tokens import CHARS_PER_TOKEN
from skyrelay.gateway.server.hooks import RequestContext

log = logging.getLogger("skyrelay.gateway.billing")

__all__ = ["MAX_TOKENS", "billable", "delivered_chars", "sane_count", "tokens_for_chars"]


def delivered_chars(chunk: dict[str, Any]) -> int:
    """Characters of model output in one streamed chunk (text, reasoning, tool calls)."""
    total = 0
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return 0
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        part = choice.get("delta")
        if not isinstance(part, dict):
            part = choice.get("message")
        if not isinstance(part, dict):
            continue
        total += _text_len(part.get("content")) + _text_len(part.get("reasoning_content"))
        calls = part.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict):
                    total += _text_len(fn.get("name")) + _text_len(fn.get("arguments"))
    return total


def _text_len(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):  # content parts
        return sum(_text_len(p.get("text")) for p in value if isinstance(p, dict))
    return 0


def tokens_for_chars(chars: int) -> int:
    """Output tokens for ``chars`` delivered characters (rounded up)."""
    return (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def billable(ctx: RequestContext) -> tuple[int, int, str]:
    """``(input_tokens, output_tokens, source)`` to charge; source ``upstream`` | ``estimate``
    | ``none`` (nothing reached an upstream)."""
    target = ctx.target.key if ctx.target is not None else ""
    est_in = ctx.estimate[0]
    fallback_out = tokens_for_chars(ctx.delivered_chars)
    usage = Usage.parse(ctx.usage, target=target, embeddings=ctx.endpoint == "embeddings")
    if usage is not None:
        got_in, got_out = usage.input_tokens, usage.output_tokens
        return (got_in if got_in is not None else est_in,
                got_out if got_out is not None else fallback_out, "upstream")
    if ctx.upstream_worked and ctx.target is not None:
        return est_in, fallback_out, "estimate"
    return 0, 0, "none"
