"""OpenTelemetry GenAI traces for the gateway, off by default. No package beyond the
gateway's own is needed: spans are the gateway's records, encoded as OTLP protobuf and sent
over HTTP by the standard library.

* :mod:`.settings` — whether tracing is on and where spans go (the spec's
  ``gateway.tracing`` and the standard ``OTEL_*`` variables);
* :mod:`.propagation` — the attempt's ``traceparent`` for the providers' upstream headers;
* :mod:`.genai` — the GenAI semantic-convention attribute names and their values;
* :mod:`.spans` — span records, ids, the sampler, ``traceparent`` parsing;
* :mod:`.tracer` — the request and attempt spans;
* :mod:`.otlp_encode` / :mod:`.otlp_export` — OTLP protobuf encoding, batched export.

When tracing is off the request path pays one ``is None`` check in the pipeline and in the
router, and one context-variable read per upstream request.

Example::

    from skyrelay.gateway.telemetry.settings import resolve
    settings = resolve(config.tracing, os.environ, log_prompts=config.log_prompts)
    app = build_app(config)        # does this itself; the tracer starts with the app
"""
