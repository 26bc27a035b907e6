"""Whether the gateway traces, and where to: the spec's ``gateway.tracing`` and the
standard ``OTEL_*`` environment, resolved once at start-up (a bad value is a clear error
then, not a surprise at the first export).

Rules (the OpenTelemetry SDK environment specification,
https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):

* ``OTEL_SDK_DISABLED=true`` turns tracing off, whatever the spec says;
  ``OTEL_TRACES_EXPORTER=none`` does too (any other exporter than ``otlp`` is refused:
  the gateway exports OTLP over HTTP with protobuf only);
* otherwise tracing is on when the spec turns it on (``exporter: otlp`` or ``adot-xray``)
  or when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set;
* the endpoint: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` as it is, else
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/traces``, else the spec's endpoint, else
  ``http://localhost:4318/v1/traces`` (the specification's default). The environment wins
  over the spec so that an operator (or the bench) can point a deployed gateway elsewhere;
* the sampler: ``parentbased_traceidratio`` at the spec's ``sample_ratio``, unless
  ``OTEL_TRACES_SAMPLER`` (with ``OTEL_TRACES_SAMPLER_ARG``) names one of :data:`SAMPLERS`;
* the resource: ``service.name`` (``OTEL_SERVICE_NAME``, else ``OTEL_RESOURCE_ATTRIBUTES``'s,
  else ``skyrelay-gateway``), the ``OTEL_RESOURCE_ATTRIBUTES`` pairs, ``skyrelay.gateway``
  and the ``telemetry.sdk.*`` attributes;
* the exporter's headers, timeout, compression, certificates and the batch sizes:
  :class:`~skyrelay.gateway.telemetry.otlp_export.ExportOptions`.

Example::

    settings = resolve(config.tracing, os.environ)
    if settings is not None:          # tracing on
        tracer = settings.start()     # in the serving process
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from skyrelay.gateway.telemetry.otlp_export import ExportOptions, parse_pairs
from skyrelay.gateway.telemetry.spans import SAMPLERS

if TYPE_CHECKING:
    from skyrelay.gateway.telemetry.tracer import GatewayTracer

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
DEFAULT_SERVICE_NAME = "skyrelay-gateway"


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """Resolved tracing settings (tracing is on when an instance exists).

    ``log_prompts`` puts prompt and completion text on the spans (the spec's
    ``gateway.log_prompts``; off by default). ``sampler`` is one of :data:`SAMPLERS`;
    ``sample_ratio`` is its ratio (used by the ``traceidratio`` ones).
    """

    endpoint: str
    sample_ratio: float = 1.0
    log_prompts: bool = False
    service_name: str = DEFAULT_SERVICE_NAME
    gateway_name: str = ""
    sampler: str = "parentbased_traceidratio"
    resource_attributes: dict[str, str] = field(default_factory=dict)
    export: ExportOptions = field(default_factory=ExportOptions)

    def resource(self) -> dict[str, str]:
        """The resource's attributes (see the module docstring for the precedence)."""
        from skyrelay import __version__

        out = {**self.resource_attributes, "service.name": self.service_name,
               "telemetry.sdk.name": "skyrelay", "telemetry.sdk.language": "python",
               "telemetry.sdk.version": __version__}
        if self.gateway_name:
            out["skyrelay.gateway"] = self.gateway_name
        return out

    def start(self) -> GatewayTracer:
        """The tracer (sampler, span queue, export thread) for this process.

        Call it in the process that serves (after any fork): the exporter owns a thread.
        """
        from skyrelay.gateway.telemetry.tracer import GatewayTracer
        return GatewayTracer.create(self)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def _sampler(environ: Mapping[str, str], spec_ratio: float) -> tuple[str, float]:
    name = (environ.get("OTEL_TRACES_SAMPLER") or "").strip().lower()
    if not name:
        return "parentbased_traceidratio", spec_ratio
    if name not in SAMPLERS:
        raise ValueError(f"OTEL_TRACES_SAMPLER={name!r}: the gateway knows "
                         f"{', '.join(SAMPLERS)}")
    raw = (environ.get("OTEL_TRACES_SAMPLER_ARG") or "").strip()
    if not name.endswith("traceidratio") or not raw:
        return name, 1.0
    try:
        ratio = float(raw)
    except ValueError:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={raw!r} is not a ratio") from None
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"OTEL_TRACES_SAMPLER_ARG={raw!r} is outside 0..1")
    return name, ratio


def resolve(spec_tracing: Mapping[str, Any] | None, environ: Mapping[str, str], *,
            log_prompts: bool = False, gateway_name: str = "") -> TracingSettings | None:
    """The settings, or None when tracing is off (see the module docstring).

    ``spec_tracing`` is the derived config's ``tracing`` entry (``exporter``,
    ``endpoint``, ``sample_ratio``) or None. Raises ValueError naming the setting for an
    exporter other than ``otlp``/``none``, a protocol other than ``http/protobuf``, a bad
    ``sample_ratio``, sampler, resource attribute, header or exporter option.
    """
    if _truthy(environ.get("OTEL_SDK_DISABLED")):
        return None
    exporter = (environ.get("OTEL_TRACES_EXPORTER") or "").strip().lower()
    if exporter == "none":
        return None
    spec = dict(spec_tracing or {})
    spec_on = spec.get("exporter", "off") != "off"
    traces_endpoint = (environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or "").strip()
    base_endpoint = (environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip()
    if not (spec_on or traces_endpoint or base_endpoint):
        return None
    if exporter not in ("", "otlp"):
        raise ValueError(f"OTEL_TRACES_EXPORTER={exporter!r}: the gateway exports traces "
                         "with OTLP/HTTP only (otlp), or not at all (none)")
    protocol = (environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "").strip()
    if protocol not in ("", "http/protobuf"):
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: the gateway exports "
                         "OTLP over HTTP with protobuf (http/protobuf) only")
    if traces_endpoint:
        endpoint = traces_endpoint
    elif base_endpoint:
        endpoint = base_endpoint.rstrip("/") + "/v1/traces"
    else:
        endpoint = str(spec.get("endpoint") or DEFAULT_ENDPOINT)
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the OTLP traces endpoint {endpoint!r} is not an http(s) URL")
    spec_ratio = float(spec.get("sample_ratio", 1.0))
    if not 0.0 <= spec_ratio <= 1.0:
        raise ValueError(f"tracing sample_ratio {spec_ratio} is outside 0..1")
    sampler, ratio = _sampler(environ, spec_ratio)
    attributes = parse_pairs(environ.get("OTEL_RESOURCE_ATTRIBUTES") or "",
                             "OTEL_RESOURCE_ATTRIBUTES")
    service = ((environ.get("OTEL_SERVICE_NAME") or "").strip()
               or attributes.get("service.name") or DEFAULT_SERVICE_NAME)
    return TracingSettings(endpoint=endpoint, sample_ratio=ratio, log_prompts=log_prompts,
                           service_name=service, gateway_name=gateway_name, sampler=sampler,
                           resource_attributes=attributes,
                           export=ExportOptions.from_environ(environ))
