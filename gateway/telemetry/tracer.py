"""The gateway's spans: one SERVER span per model request, one CLIENT span per upstream
attempt (so fallbacks and retries show as sibling attempt spans), exported over OTLP/HTTP
(protobuf) by a :class:`~opentelemetry.sdk.trace.export.BatchSpanProcessor`: the request
path only creates and ends spans, the export runs on the processor's own thread.

Conventions and the attribute names chosen: :mod:`skyrelay.gateway.telemetry.genai`
(OpenTelemetry GenAI spans, https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/).
A client's W3C ``traceparent`` (and ``tracestate``) makes the request span its child; each
attempt's own ``traceparent`` goes upstream (:mod:`.propagation`). Prompt and completion
text is recorded only with ``log_prompts``.

The tracer provider is the gateway's own (never installed as the global provider) and is
created by :meth:`GatewayApp.startup`, i.e. in each serving process after any fork, so no
worker inherits a batch thread it does not have.

Example::

    tracer = GatewayTracer.create(settings)
    trace = tracer.request(scope["headers"], "chat", request_id)
    ...                                   # the router's attempts become child spans
    trace.finish(ctx)
    tracer.shutdown()                     # flushes what is queued
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import trace as otel
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from skyrelay.gateway.hub.request import Request
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.telemetry import genai
from skyrelay.gateway.telemetry.propagation import UPSTREAM, traceparent

if TYPE_CHECKING:
    from skyrelay.gateway.config import TargetConfig
    from skyrelay.gateway.server.hooks import RequestContext
    from skyrelay.gateway.telemetry.settings import TracingSettings

log = logging.getLogger("skyrelay.gateway.telemetry")

Attempt = Callable[..., Awaitable[tuple[Any, float]]]
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_HEADERS = (b"traceparent", b"tracestate")
#: the request being traced in this task (set by :meth:`GatewayTracer.request`)
_CURRENT: ContextVar[RequestTrace | None] = ContextVar("skyrelay_request_trace", default=None)


def _error_type(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return exc.kind
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


class RequestTrace:
    """The span of one model request and what its attempts found."""

    __slots__ = ("span", "context", "tracestate", "op", "tried", "attempts",
                 "response_model", "finish_reasons", "_token")

    def __init__(self, span: Any, context: Any, tracestate: str | None, op: str) -> None:
        self.span = span
        self.context = context
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
            self._finish(ctx)
        except Exception:  # tracing must never fail a request
            log.exception("could not end the span of request %s", ctx.request_id)
        finally:
            if self._token is not None:
                _CURRENT.reset(self._token)
                self._token = None

    def _finish(self, ctx: RequestContext) -> None:
        span = self.span
        attrs: dict[str, Any] = {genai.TENANT: ctx.tenant.name, genai.ATTEMPTS: ctx.attempts,
                                 genai.HTTP_STATUS: ctx.status}
        if ctx.route is not None:
            attrs[genai.ROUTE] = attrs[genai.REQUEST_MODEL] = ctx.route.name
            span.update_name(f"{self.op} {ctx.route.name}")
        if ctx.target is not None:
            attrs[genai.TARGET] = ctx.target.key
            attrs[genai.PROVIDER] = genai.provider_name(ctx.target.cloud)
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
                span.set_status(Status(StatusCode.ERROR, ctx.error_code))
        span.set_attributes(attrs)
        span.end()


class GatewayTracer:
    """Creates the gateway's spans; one per serving process (see the module docstring)."""

    def __init__(self, provider: TracerProvider, log_prompts: bool = False) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("skyrelay.gateway")
        self.log_prompts = log_prompts
        self._servers: dict[str, tuple[str, int | None]] = {}

    @classmethod
    def create(cls, settings: TracingSettings,
               exporter: SpanExporter | None = None) -> GatewayTracer:
        """Provider, sampler, resource and batch export from ``settings``."""
        resource = Resource({"service.name": settings.service_name,
                             "skyrelay.gateway": settings.gateway_name}
                            ).merge(OTELResourceDetector().detect())  # OTEL_* wins
        sampler = (ParentBased(TraceIdRatioBased(settings.sample_ratio))
                   if settings.sample_ratio is not None else None)  # None: OTEL_TRACES_SAMPLER
        provider = TracerProvider(resource=resource, sampler=sampler)
        provider.add_span_processor(BatchSpanProcessor(
            exporter or OTLPSpanExporter(endpoint=settings.endpoint)))
        log.info("tracing on: OTLP/HTTP to %s", settings.endpoint)
        return cls(provider, settings.log_prompts)

    def shutdown(self) -> None:
        """Export what is queued and stop the batch thread (blocking; bounded by the SDK)."""
        self.provider.shutdown()

    # --- the request span --------------------------------------------------------------

    def request(self, headers: list[tuple[bytes, bytes]], op: str,
                request_id: str) -> RequestTrace:
        """Start the span of one request (child of the client's ``traceparent``)."""
        carrier = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in headers if name in _TRACE_HEADERS}
        parent = _PROPAGATOR.extract(carrier) if carrier else None
        span = self.tracer.start_span(genai.operation_name(op), context=parent,
                                      kind=SpanKind.SERVER,
                                      attributes={genai.OPERATION: genai.operation_name(op),
                                                  genai.REQUEST_ID: request_id})
        trace = RequestTrace(span, otel.set_span_in_context(span), carrier.get("tracestate"),
                             genai.operation_name(op))
        trace._token = _CURRENT.set(trace)
        return trace

    # --- attempt spans -----------------------------------------------------------------

    def _server(self, target: TargetConfig) -> tuple[str, int | None]:
        known = self._servers.get(target.key)
        if known is None:
            parts = urlsplit(target.endpoint)
            known = self._servers[target.key] = (parts.hostname or "", parts.port)
        return known

    def _start_attempt(self, target: TargetConfig, request: Any) -> tuple[Any, RequestTrace | None]:
        current = _CURRENT.get()
        op = request.op if isinstance(request, Request) else (
            "chat" if isinstance(request, dict) and "messages" in request else "embeddings")
        provider = genai.provider_name(target.cloud)
        host, port = self._server(target)
        attrs: dict[str, Any] = {genai.OPERATION: op, genai.PROVIDER: provider,
                                 genai.SYSTEM: provider, genai.REQUEST_MODEL: target.model,
                                 genai.TARGET: target.key, genai.SERVER_ADDRESS: host}
        if port is not None:
            attrs[genai.SERVER_PORT] = port
        if current is not None:
            current.attempts += 1
            attrs[genai.ATTEMPT] = current.attempts
            attrs[genai.RETRY] = target.key in current.tried
            current.tried.add(target.key)
        if self.log_prompts:
            body = request.body if isinstance(request, Request) else request
            text = genai.input_messages(body)
            if text is not None:
                attrs[genai.INPUT_MESSAGES] = text
        span = self.tracer.start_span(f"{op} {target.model}",
                                      context=current.context if current else None,
                                      kind=SpanKind.CLIENT, attributes=attrs)
        return span, current

    def wrap_attempt(self, attempt: Attempt, request: Any, stream: bool) -> Attempt:
        """``attempt`` (the router's, see ``Router._run``) inside an attempt span."""
        async def traced(target: TargetConfig, provider: Any, share: float,
                         deadline: float) -> tuple[Any, float]:
            span, current = self._start_attempt(target, request)
            sc = span.get_span_context()
            token = UPSTREAM.set((traceparent(sc.trace_id, sc.span_id, sc.trace_flags),
                                  current.tracestate if current else None))
            try:
                value, elapsed = await attempt(target, provider, share, deadline)
            except BaseException as exc:
                span.set_attribute(genai.ERROR_TYPE, _error_type(exc))
                if isinstance(exc, ProviderError):
                    span.set_attribute(genai.HTTP_STATUS, exc.status)
                span.set_status(Status(StatusCode.ERROR, _error_type(exc)))
                span.end()
                raise
            finally:
                UPSTREAM.reset(token)
            if stream:
                first, rest = value
                return (first, self._observe(span, current, first, rest)), elapsed
            self._answered(span, current, value)
            return value, elapsed
        return traced

    def _answered(self, span: Any, current: RequestTrace | None, value: Any) -> None:
        body = getattr(value, "body", value)
        usage = getattr(value, "usage", None) if hasattr(value, "body") else (
            body.get("usage") if isinstance(body, dict) else None)
        model = genai.response_model(body)
        reasons = genai.finish_reasons(body)
        attrs: dict[str, Any] = {}
        if self.log_prompts:
            text = genai.output_messages(body)
            if text is not None:
                attrs[genai.OUTPUT_MESSAGES] = text
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            attrs[genai.RESPONSE_ID] = body["id"]
        self._close(span, current, model, reasons, usage, attrs)

    def _close(self, span: Any, current: RequestTrace | None, model: str | None,
               reasons: tuple[str, ...], usage: Any, attrs: dict[str, Any]) -> None:
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
        span.set_attributes(attrs)
        span.end()

    async def _observe(self, span: Any, current: RequestTrace | None, first: Any,
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
            span.set_attribute(genai.ERROR_TYPE, _error_type(exc))
            span.set_status(Status(StatusCode.ERROR, _error_type(exc)))
            raise
        finally:
            close = getattr(rest, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
            attrs: dict[str, Any] = {}
            if self.log_prompts and not failed:
                attrs[genai.OUTPUT_MESSAGES] = genai.output_text_message(
                    "".join(text), reasons or ())
            self._close(span, current, model, reasons or (), usage, attrs)
