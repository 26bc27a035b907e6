"""The internal result of a dispatch, and the one place upstream usage is validated.

A provider answers a :class:`Result`: the answer's body in ``api``'s shape (the canonical
``chat.completion`` / embeddings ``list`` for translated requests, the client's own API for
passthrough) and the raw usage it reported. :meth:`Usage.parse` turns raw usage into
trusted counts once, for billing, limits and records: integers from 0 to
:data:`MAX_TOKENS`; anything else is clamped (a negative count to 0, a float rounded, more
than the cap to the cap; a count that is not a number is None, so the gateway's own figure
is used) and logged once per (target, field).

Example::

    usage = Usage.parse({"prompt_tokens": 12, "completion_tokens": -3}, target="a")
    # Usage(input_tokens=12, output_tokens=0, cached_input_tokens=None), one warning logged
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("skyrelay.gateway.billing")

#: A count above this in one request is not believable (no model reads or writes 10M tokens).
MAX_TOKENS = 10_000_000

_warned: set[tuple[str, str]] = set()


def sane_count(value: Any, name: str, target: str) -> int | None:
    """``value`` as a token count in ``[0, MAX_TOKENS]``; None when it is not a number.

    Out-of-range or fractional values are clamped and logged once per (target, field).

    >>> sane_count(3.6, "prompt_tokens", "t")
    4
    """
    if type(value) is int and 0 <= value <= MAX_TOKENS:  # what upstreams send: no checks
        return value
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


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts an upstream reported, validated; None where a count was unusable."""

    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int | None = None

    @classmethod
    def parse(cls, raw: Any, *, target: str, embeddings: bool = False) -> Usage | None:
        """Validate raw OpenAI-named usage (``prompt_tokens``, ``completion_tokens``).

        None when ``raw`` holds no usable count at all. An embeddings answer has no
        ``completion_tokens``: it counts as 0.
        """
        if not isinstance(raw, dict) or not raw:
            return None
        raw_out = raw.get("completion_tokens")
        if raw_out is None and embeddings:
            raw_out = 0
        got_in = sane_count(raw.get("prompt_tokens"), "prompt_tokens", target)
        got_out = sane_count(raw_out, "completion_tokens", target)
        if got_in is None and got_out is None:
            return None
        details = raw.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        return cls(got_in, got_out,
                   sane_count(cached, "cached_tokens", target) if cached is not None else None)


@dataclass(slots=True)
class Result:
    """A provider's non-streamed answer: ``body`` in ``api``'s shape, its raw ``usage`` with
    OpenAI's names (``prompt_tokens``, ``completion_tokens``; a passthrough provider of
    another API maps its own names), validated once by :meth:`Usage.parse` at billing."""

    body: dict[str, Any]
    api: str
    usage: dict[str, Any] | None = None

    @classmethod
    def of(cls, body: Any, api: str) -> Result:
        """A result whose usage is the body's own ``usage`` field (OpenAI shapes)."""
        usage = body.get("usage") if isinstance(body, dict) else None
        return cls(body, api, usage if isinstance(usage, dict) else None)
