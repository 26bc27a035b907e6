"""Door-agnostic stream forwarding: deadline, disconnect and drain, error event, usage.

:func:`forward` sends the first item and the rest of a started stream through the door's
renderer, counts what reaches the client (usage, delivered characters: the billing
invariant needs both whatever happens) and ends the stream with the door's ``done()`` on
success or its ``error()`` event otherwise: a mid-stream upstream failure, the route's
deadline, the drain window closing, a gateway bug. A client that leaves ends it quietly
(status 499 in the record). The breaker hears about every upstream fault.

Example::

    await forward(ctx, start, renderer, guard, send, router)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from skyrelay.gateway.deadlines import deadline_at
from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.hub.door import StreamRender
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.router.router import Router, StreamStart
from skyrelay.gateway.server.asgi import Send
from skyrelay.gateway.server.billing import delivered_chars
from skyrelay.gateway.server.hooks import RequestContext
from skyrelay.gateway.server.inflight import SHUTDOWN, Guard

log = logging.getLogger("skyrelay.gateway")


def shutting_down() -> GatewayError:
    """503 for a request cut at the end of the drain window."""
    return GatewayError(503, "The gateway is shutting down; the request was cut at the end "
                             "of its drain window. Retry it.", type="server_error",
                        code="gateway_shutting_down", retry_after=1)


async def aclose(stream: Any) -> None:
    """Close an async generator, ignoring what a broken one raises."""
    close = getattr(stream, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


def _count(ctx: RequestContext, item: Any) -> None:
    if type(item) is dict:
        usage = item.get("usage")
        if usage is not None:
            ctx.usage = usage
        ctx.delivered_chars += delivered_chars(item)
    else:  # a NativeEvent (passthrough)
        if item.usage is not None:
            ctx.usage = item.usage
        ctx.delivered_chars += item.delivered_chars


def upstream_stream_error(err: ProviderError) -> GatewayError:
    """The client's error for an upstream stream that failed after it started."""
    filtered = err.kind == "content_filter"
    return GatewayError(400 if filtered else 502,
                        f"The upstream stream failed after it started: {err.message}",
                        type="invalid_request_error" if filtered else "server_error",
                        code=err.code or f"upstream_{err.kind}")


async def forward(ctx: RequestContext, start: StreamStart, renderer: StreamRender,
                  guard: Guard, send: Send, router: Router) -> None:
    """Forward ``start.first`` and ``start.rest``; end with ``done()`` or an error event."""
    rest = start.rest
    try:
        with deadline_at(start.deadline):
            _count(ctx, start.first)
            out = renderer.event(start.first)
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})
            async for item in rest:
                _count(ctx, item)
                out = renderer.event(item)
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
        guard.finished = True
        await send({"type": "http.response.body", "body": renderer.done()})
    except ProviderError as err:
        guard.finished = True
        router.stream_failed(start.target, err)
        gw = upstream_stream_error(err)
        ctx.status, ctx.error_code = gw.status, gw.code
        await send({"type": "http.response.body", "body": renderer.error(gw)})
    except TimeoutError:
        guard.finished = True
        router.stream_failed(start.target, ProviderError("timeout", 504, "stream deadline",
                                                         retryable=True))
        assert ctx.route is not None
        gw = GatewayError.deadline(ctx.route.timeout_seconds, ctx.attempts)
        ctx.status, ctx.error_code = gw.status, gw.code
        await send({"type": "http.response.body", "body": renderer.error(gw)})
    except asyncio.CancelledError:
        if not guard.cancelled_by_us():
            raise
        guard.uncancel()
        guard.finished = True
        if guard.reason == SHUTDOWN:  # the drain window ended: say so, then record
            gw = shutting_down()
            ctx.status, ctx.error_code = gw.status, gw.code
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": renderer.error(gw)})
        else:
            ctx.status, ctx.error_code = 499, "client_closed"
    except Exception:
        guard.finished = True
        log.exception("stream of request %s failed", ctx.request_id)
        gw = GatewayError.internal()
        ctx.status, ctx.error_code = gw.status, gw.code
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": renderer.error(gw)})
    finally:
        guard.finished = True
        await aclose(rest)
