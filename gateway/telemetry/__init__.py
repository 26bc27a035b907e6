"""OpenTelemetry GenAI traces for the gateway, off by default.

* :mod:`.settings` — whether tracing is on and where spans go (the spec's
  ``gateway.tracing`` and the standard ``OTEL_*`` variables); imports no OpenTelemetry code,
  so the gateway runs without the ``tracing`` extra while tracing is off;
* :mod:`.propagation` — the attempt's ``traceparent`` for the providers' upstream headers;
* :mod:`.genai` — the GenAI semantic-convention attribute names and their values;
* :mod:`.tracer` — the spans (needs ``opentelemetry-sdk`` and the OTLP/HTTP exporter).

When tracing is off the request path pays one ``is None`` check in the pipeline and in the
router, and one context-variable read per upstream request.

Example::

    from skyrelay.gateway.telemetry.settings import resolve
    settings = resolve(config.tracing, os.environ, log_prompts=config.log_prompts)
    app = build_app(config)        # does this itself; the tracer starts with the app
"""
