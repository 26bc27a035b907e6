"""The gateway's spans: one SERVER span per model request, one CLIENT span per upstream
attempt (so fallbacks and retries show as sibling attempt spans), exported over OTLP/HTTP
(protobuf) in batches by a thread of their own (:mod:`.otlp_export`): the request path
only fills :class:`~.spans.SpanRecord` objects and queues them when they end.

Conventions and the attribute names chosen: :mod:`skyrelay.gateway.telemetry.genai`
(OpenTelemetry GenAI spans, https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/).
A client's W3C ``traceparent`` (and ``tracestate``) makes the request span its child; each
attempt's own ``traceparent`` goes upstream (:mod:`.propagation`), sampled or not. Prompt
and completion text is recorded only with ``log_prompts``.

The tracer is created by :meth:`GatewayApp.startup`, i.e. in each serving process after
any fork, so no worker inherits an export thread it does not have, nor its parent's ids.

Example::

    tracer = GatewayTracer.create(settings)
    trace = tracer.request(scope["headers"], "chat", request_id)
    ...                                   # the router's attempts become child spans
    trace.finish(ctx)
    tracer.shutdown()                     # exports what is queued
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from skyrelay import __version__
from skyrelay.gateway.hub.request import Request
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.telemetry import genai
from skyrelay.gateway.telemetry.otlp_encode import SpanEncoder
from skyrelay.gateway.telemetry.otlp_export import OtlpHttpExporter, SpanBatcher
from skyrelay.gateway.telemetry.propagation import UPSTREAM, traceparent
from skyrelay.gateway.telemetry.spans import (
    HAS_IS_REMOTE,
    IS_REMOTE,
    KIND_CLIENT,
    KIND_SERVER,
    SAMPLED,
    Sampler,
    SpanIds,
    SpanRecord,
    parse_traceparent,
)

if TYPE_CHECKING:
    from skyrelay.gateway.config import TargetConfig
    from skyrelay.gateway.server.hooks import RequestContext
    from skyrelay.gateway.telemetry.settings import TracingSettings

log = logging.getLogger("skyrelay.gateway.telemetry")

Attempt = Callable[..., Awaitable[tuple[Any, float]]]
_FIXED_LIMIT = 4096  # cached name/attribute combinations (bounded by the config in practice)
_MAX_TRACESTATE = 512  # W3C: a vendor may cut tracestate beyond 512 characters
#: the request being traced in this task (set by :meth:`GatewayTracer.request`)
_CURRENT: ContextVar[RequestTrace | None] = ContextVar("skyrelay_request_trace", default=None)


def _error_type(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return exc.kind
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


class RequestTrace:
    """The span of one model request (``record`` is None when it is not sampled) and
    what its attempts found."""

    __slots__ = ("tracer", "record", "trace_id", "span_id", "trace_flags", "tracestate",
                 "op", "tried", "attempts", "response_model", "finish_reasons", "_token")

    def __init__(self, tracer: GatewayTracer, record: SpanRecord | None, trace_id: int,
                 span_id: int, trace_flags: int, tracestate: str | None, op: str) -> None:
        self.tracer = tracer
        self.record = record
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags
        self.tracestate = tracestate
        self.op = op
        self.tried: set[str] = set()
        self.attempts = 0
        self.response_model: str | None = None
        self.finish_reasons: tuple[str, ...] = ()
        self._token: Token[RequestTrace | None] | None = None

    def finish(self, ctx: RequestContext) -> None:
        """End the request span with the outcome in ``ctx`` (never raises)."""
        try:
            if self.record is not None:
                self._finish(self.record, ctx)
        except Exception:  # tracing must never fail a request
            log.exception("could not end the span of request %s", ctx.request_id)
        finally:
            if self._token is not None:
                _CURRENT.reset(self._token)
                self._token = None

    def _finish(self, record: SpanRecord, ctx: RequestContext) -> None:
        attrs = record.attributes
        attrs[genai.ATTEMPTS] = ctx.attempts
        attrs[genai.HTTP_STATUS] = ctx.status
        route = ctx.route.name if ctx.route is not None else None
        record.name, record.fixed = self.tracer.request_fixed(self.op, ctx.tenant.name, route,
                                                              ctx.target)
        got_in, got_out = genai.usage_counts(ctx.usage)
        if got_in is not None:
            attrs[genai.INPUT_TOKENS] = got_in
        if got_out is not None:
            attrs[genai.OUTPUT_TOKENS] = got_out
        if self.response_model:
            attrs[genai.RESPONSE_MODEL] = self.response_model
        if self.finish_reasons:
            attrs[genai.FINISH_REASONS] = self.finish_reasons
        if ctx.status >= 400 or ctx.status == 0:
            attrs[genai.ERROR_TYPE] = ctx.error_code or str(ctx.status)
            if ctx.status >= 500 or ctx.status == 0:
                record.error(ctx.error_code or str(ctx.status))
        self.tracer.end(record)


class GatewayTracer:
    """Creates the gateway's spans; one per serving process (see the module docstring)."""

    def __init__(self, batcher: SpanBatcher, sampler: Sampler,
                 log_prompts: bool = False) -> None:
        self.batcher = batcher
        self.sampler = sampler
        self.log_prompts = log_prompts
        self._ids = SpanIds()
        #: (op, target key) -> the attempt span's name and its fixed attributes, encoded
        self._attempt_fixed: dict[tuple[str, str], tuple[str, bytes]] = {}
        #: (op, tenant, route, target key) -> the request span's name and fixed attributes
        self._request_fixed: dict[tuple[str, str, str | None, str | None],
                                  tuple[str, bytes]] = {}

    @classmethod
    def create(cls, settings: TracingSettings) -> GatewayTracer:
        """Sampler, resource, encoder and the export thread from ``settings``."""
        encoder = SpanEncoder(settings.resource(), "skyrelay.gateway", __version__,
                              unique_keys=genai.UNIQUE)
        exporter = OtlpHttpExporter(settings.endpoint, settings.export)
        log.info("tracing on: OTLP/HTTP to %s (%s)", settings.endpoint, settings.sampler)
        return cls(SpanBatcher(encoder, exporter, settings.export),
                   Sampler(settings.sampler, settings.sample_ratio), settings.log_prompts)

    def end(self, record: SpanRecord) -> None:
        """End ``record`` now and queue it for export."""
        record.end_ns = time.time_ns()
        self.batcher.add(record)

    def force_flush(self, timeout_ms: float = 30_000) -> bool:
        """Export what is queued now (blocking); False when it took over ``timeout_ms``."""
        return self.batcher.force_flush(timeout_ms)

    def shutdown(self) -> None:
        """Export what is queued and stop the export thread (blocking, bounded)."""
        self.batcher.shutdown()

    # --- the request span --------------------------------------------------------------

    def request(self, headers: list[tuple[bytes, bytes]], op: str,
                request_id: str) -> RequestTrace:
        """Start the span of one request (child of the client's ``traceparent``)."""
        given = tracestate = None
        for name, value in headers:
            if name == b"traceparent":
                given = value.decode("latin-1")
            elif name == b"tracestate" and len(value) <= _MAX_TRACESTATE:
                tracestate = value.decode("latin-1").strip() or None
        parent = parse_traceparent(given) if given is not None else None
        ids = self._ids
        if parent is not None:
            trace_id, parent_id, flags = parent.trace_id, parent.span_id, HAS_IS_REMOTE | IS_REMOTE
            sampled = self.sampler.sampled(trace_id, parent.flags)
        else:
            trace_id, parent_id, flags, tracestate = ids.trace_id(), 0, HAS_IS_REMOTE, None
            sampled = self.sampler.sampled(trace_id, None)
        span_id = ids.span_id()
        name = genai.operation_name(op)
        record = SpanRecord(trace_id, span_id, parent_id, name, KIND_SERVER, time.time_ns(),
                            {genai.REQUEST_ID: request_id},
                            flags | SAMPLED, tracestate) if sampled else None
        trace = RequestTrace(self, record, trace_id, span_id, SAMPLED if sampled else 0,
                             tracestate, name)
        trace._token = _CURRENT.set(trace)
        return trace

    # --- attempt spans -----------------------------------------------------------------

    def _attempt_template(self, op: str, target: TargetConfig) -> tuple[str, bytes]:
        """The attempt span's name and the attributes ``op`` on ``target`` always has,
        encoded once (cached: one lookup instead of a dict to fill and encode)."""
        key = (op, target.key)
        known = self._attempt_fixed.get(key)
        if known is None:
            parts = urlsplit(target.endpoint)
            provider = genai.provider_name(target.cloud)
            attrs: dict[str, Any] = {genai.OPERATION: op, genai.PROVIDER: provider,
                                     genai.SYSTEM: provider, genai.REQUEST_MODEL: target.model,
                                     genai.TARGET: target.key,
                                     genai.SERVER_ADDRESS: parts.hostname or ""}
            if parts.port is not None:
                attrs[genai.SERVER_PORT] = parts.port
            known = (f"{op} {target.model}", self.batcher.encoder.attributes(attrs))
            if len(self._attempt_fixed) >= _FIXED_LIMIT:
                self._attempt_fixed.clear()
            self._attempt_fixed[key] = known
        return known

    def request_fixed(self, op: str, tenant: str, route: str | None,
                      target: TargetConfig | None) -> tuple[str, bytes]:
        """The request span's name and its operation, tenant, route and target attributes,
        encoded once per combination."""
        key = (op, tenant, route, target.key if target is not None else None)
        known = self._request_fixed.get(key)
        if known is None:
            attrs: dict[str, Any] = {genai.OPERATION: op, genai.TENANT: tenant}
            if route is not None:
                attrs[genai.ROUTE] = attrs[genai.REQUEST_MODEL] = route
            if target is not None:
                attrs[genai.TARGET] = target.key
                attrs[genai.PROVIDER] = genai.provider_name(target.cloud)
            known = (f"{op} {route}" if route is not None else op,
                     self.batcher.encoder.attributes(attrs))
            if len(self._request_fixed) >= _FIXED_LIMIT:
                self._request_fixed.clear()
            self._request_fixed[key] = known
        return known

    def _start_attempt(self, target: TargetConfig, request: Any
                       ) -> tuple[SpanRecord | None, RequestTrace | None, str]:
        """The attempt's record (None: not sampled), its request and its traceparent."""
        current = _CURRENT.get()
        span_id = self._ids.span_id()
        if current is not None:
            trace_id, parent_id, trace_flags = (current.trace_id, current.span_id,
                                                current.trace_flags)
            current.attempts += 1
        else:  # an attempt outside a traced request: a root span of its own
            trace_id, parent_id = self._ids.trace_id(), 0
            trace_flags = SAMPLED if self.sampler.sampled(trace_id, None) else 0
        sent = traceparent(trace_id, span_id, trace_flags)
        if not trace_flags & SAMPLED:
            return None, current, sent
        op = request.op if isinstance(request, Request) else (
            "chat" if isinstance(request, dict) and "messages" in request else "embeddings")
        name, fixed = self._attempt_template(op, target)
        attrs: dict[str, Any] = {}
        if current is not None:
            attrs[genai.ATTEMPT] = current.attempts
            attrs[genai.RETRY] = target.key in current.tried
            current.tried.add(target.key)
        if self.log_prompts:
            body = request.body if isinstance(request, Request) else request
            text = genai.input_messages(body)
            if text is not None:
                attrs[genai.INPUT_MESSAGES] = text
        record = SpanRecord(trace_id, span_id, parent_id, name, KIND_CLIENT, time.time_ns(),
                            attrs, HAS_IS_REMOTE | SAMPLED,
                            current.tracestate if current else None)
        record.fixed = fixed
        return record, current, sent

    def wrap_attempt(self, attempt: Attempt, request: Any, stream: bool) -> Attempt:
        """``attempt`` (the router's, see ``Router._run``) inside an attempt span."""
        async def traced(target: TargetConfig, provider: Any, share: float,
                         deadline: float) -> tuple[Any, float]:
            record, current, sent = self._start_attempt(target, request)
            token = UPSTREAM.set((sent, current.tracestate if current else None))
            try:
                value, elapsed = await attempt(target, provider, share, deadline)
            except BaseException as exc:
                if record is not None:
                    record.attributes[genai.ERROR_TYPE] = _error_type(exc)
                    if isinstance(exc, ProviderError):
                        record.attributes[genai.HTTP_STATUS] = exc.status
                    record.error(_error_type(exc))
                    self.end(record)
                raise
            finally:
                UPSTREAM.reset(token)
            if record is None:
                return value, elapsed
            if stream:
                first, rest = value
                return (first, self._observe(record, current, first, rest)), elapsed
            self._answered(record, current, value)
            return value, elapsed
        return traced

    def _answered(self, record: SpanRecord, current: RequestTrace | None, value: Any) -> None:
        body = getattr(value, "body", value)
        usage = getattr(value, "usage", None) if hasattr(value, "body") else (
            body.get("usage") if isinstance(body, dict) else None)
        attrs = record.attributes
        if self.log_prompts:
            text = genai.output_messages(body)
            if text is not None:
                attrs[genai.OUTPUT_MESSAGES] = text
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            attrs[genai.RESPONSE_ID] = body["id"]
        self._close(record, current, genai.response_model(body), genai.finish_reasons(body),
                    usage)

    def _close(self, record: SpanRecord, current: RequestTrace | None, model: str | None,
               reasons: tuple[str, ...], usage: Any) -> None:
        attrs = record.attributes
        got_in, got_out = genai.usage_counts(usage)
        if got_in is not None:
            attrs[genai.INPUT_TOKENS] = got_in
        if got_out is not None:
            attrs[genai.OUTPUT_TOKENS] = got_out
        if model:
            attrs[genai.RESPONSE_MODEL] = model
        if reasons:
            attrs[genai.FINISH_REASONS] = reasons
        if current is not None:
            current.response_model = model or current.response_model
            current.finish_reasons = reasons or current.finish_reasons
        self.end(record)

    async def _observe(self, record: SpanRecord, current: RequestTrace | None, first: Any,
                       rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """``rest`` as it passes; the attempt span ends with the stream (usage, reasons)."""
        model = reasons = usage = None
        text: list[str] = []
        failed = False

        def seen(item: Any) -> None:
            nonlocal model, reasons, usage
            body = item if type(item) is dict else getattr(item, "data", None)
            got = item.get("usage") if type(item) is dict else getattr(item, "usage", None)
            usage = got or usage
            model = model or genai.response_model(body)
            reasons = genai.finish_reasons(body) or reasons
            if self.log_prompts:
                text.append(genai.delta_text(item))

        seen(first)
        try:
            async for item in rest:
                seen(item)
                yield item
        except GeneratorExit:
            raise
        except BaseException as exc:
            failed = True
            record.attributes[genai.ERROR_TYPE] = _error_type(exc)
            record.error(_error_type(exc))
            raise
        finally:
            close = getattr(rest, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
            if self.log_prompts and not failed:
                record.attributes[genai.OUTPUT_MESSAGES] = genai.output_text_message(
                    "".join(text), reasons or ())
            self._close(record, current, model, reasons or (), usage)
