"""What a request is billed: the upstream's figures when sane, else what was delivered.

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
import math
from typing import Any

from skyrelay.gateway.router.tokens import CHARS_PER_TOKEN
from skyrelay.gateway.server.hooks import RequestContext

log = logging.getLogger("skyrelay.gateway.billing")

#: A count above this in one request is not believable (no model reads or writes 10M tokens).
MAX_TOKENS = 10_000_000

_warned: set[tuple[str, str]] = set()


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


def sane_count(value: Any, name: str, target: str) -> int | None:
    """``value`` as a token count in ``[0, MAX_TOKENS]``; None when it is not a number.

    Out-of-range or fractional values are clamped and logged once per (target, field).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        _warn_once(target, name, value, "is not a number; the gateway's own count is used")
        return None
    if isinstance(value, float) and not math.isfinite(value):
        _warn_once(target, name, value, "is not finite; the gateway's own count is used")
        return None
    count = int(round(value))
    clamped = min(max(count, 0), MAX_TOKENS)
    if clamped != value:
        _warn_once(target, name, value, f"is outside 0..{MAX_TOKENS} or not an integer; "
                                        f"clamped to {clamped}")
    return clamped


def _warn_once(target: str, name: str, value: Any, what: str) -> None:
    if (target, name) in _warned:
        return
    if len(_warned) < 10_000:
        _warned.add((target, name))
    log.warning("upstream %s reported usage %s=%.80r, which %s (logged once per target)",
                target or "?", name, value, what)


def billable(ctx: RequestContext) -> tuple[int, int, str]:
    """``(input_tokens, output_tokens, source)`` to charge; source ``upstream`` | ``estimate``
    | ``none`` (nothing reached an upstream)."""
    target = ctx.target.key if ctx.target is not None else ""
    est_in = ctx.estimate[0]
    fallback_out = tokens_for_chars(ctx.delivered_chars)
    usage = ctx.usage if isinstance(ctx.usage, dict) else None
    if usage:
        raw_in = usage.get("prompt_tokens")
        raw_out = usage.get("completion_tokens")
        if raw_out is None and ctx.endpoint == "embeddings":
            raw_out = 0
        got_in = sane_count(raw_in, "prompt_tokens", target)
        got_out = sane_count(raw_out, "completion_tokens", target)
        if got_in is not None or got_out is not None:
            return (got_in if got_in is not None else est_in,
                    got_out if got_out is not None else fallback_out, "upstream")
    if ctx.upstream_worked and ctx.target is not None:
        return est_in, fallback_out, "estimate"
    return 0, 0, "none"
