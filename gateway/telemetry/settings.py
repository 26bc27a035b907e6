"""Whether the gateway traces, and where to: the spec's ``gateway.tracing`` and the
standard ``OTEL_*`` environment, resolved once at start-up. Imports no OpenTelemetry code.

Rules (the OpenTelemetry SDK environment specification,
https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):

* ``OTEL_SDK_DISABLED=true`` turns tracing off, whatever the spec says;
  ``OTEL_TRACES_EXPORTER=none`` does too (any other exporter than ``otlp`` is refused:
  the gateway ships the OTLP/HTTP protobuf exporter only);
* otherwise tracing is on when the spec turns it on (``exporter: otlp`` or ``adot-xray``)
  or when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set;
* the endpoint: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` as it is, else
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/traces``, else the spec's endpoint, else
  ``http://localhost:4318/v1/traces`` (the SDK's default). The environment wins over the
  spec so that an operator (or the bench) can point a deployed gateway elsewhere;
* everything else the SDK reads itself: ``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``,
  ``_TIMEOUT``, ``_COMPRESSION``, ``_CERTIFICATE``, ``OTEL_SERVICE_NAME``,
  ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``, and ``OTEL_TRACES_SAMPLER(_ARG)`` (when
  set it replaces the spec's ``sample_ratio``).

Example::

    settings = resolve(config.tracing, os.environ)
    if settings is not None:          # tracing on
        tracer = settings.start()     # needs the ``tracing`` extra
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skyrelay.gateway.telemetry.tracer import GatewayTracer

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
DEFAULT_SERVICE_NAME = "skyrelay-gateway"
#: The modules tracing needs; the ``tracing`` extra installs them.
REQUIRED_MODULES = ("opentelemetry.sdk.trace",
                    "opentelemetry.exporter.otlp.proto.http.trace_exporter")


class TracingUnavailable(RuntimeError):
    """Tracing is configured but the OpenTelemetry packages are not installed."""


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """Resolved tracing settings (tracing is on when an instance exists).

    ``log_prompts`` puts prompt and completion text on the spans (the spec's
    ``gateway.log_prompts``; off by default). ``sample_ratio`` is None when
    ``OTEL_TRACES_SAMPLER`` decides.
    """

    endpoint: str
    sample_ratio: float | None = 1.0
    log_prompts: bool = False
    service_name: str = DEFAULT_SERVICE_NAME
    gateway_name: str = ""

    def start(self) -> GatewayTracer:
        """The tracer (provider, OTLP/HTTP exporter, batch processor) for this process.

        Call it in the process that serves (after any fork): the batch processor owns a
        thread. Raises :class:`TracingUnavailable` without the packages.
        """
        check_installed()
        from skyrelay.gateway.telemetry.tracer import GatewayTracer
        return GatewayTracer.create(self)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def check_installed() -> None:
    """Raise :class:`TracingUnavailable` naming the extra when a package is missing."""
    for module in REQUIRED_MODULES:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise TracingUnavailable(
                f"tracing is configured (gateway.tracing in the spec or an OTEL_EXPORTER_OTLP_* "
                f"endpoint) but {module} is not installed: install the gateway with the "
                "tracing extra (pip install 'skyrelay[gateway,tracing]'), or set "
                "OTEL_SDK_DISABLED=true")


def resolve(spec_tracing: Mapping[str, Any] | None, environ: Mapping[str, str], *,
            log_prompts: bool = False, gateway_name: str = "") -> TracingSettings | None:
    """The settings, or None when tracing is off (see the module docstring).

    ``spec_tracing`` is the derived config's ``tracing`` entry (``exporter``,
    ``endpoint``, ``sample_ratio``) or None. Raises ValueError for an exporter other than
    ``otlp``/``none`` in ``OTEL_TRACES_EXPORTER`` or a bad ``sample_ratio``, and
    :class:`TracingUnavailable` when tracing is on but the packages are missing.
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
    ratio: float | None = float(spec.get("sample_ratio", 1.0))
    if not 0.0 <= ratio <= 1.0:  # type: ignore[operator]
        raise ValueError(f"tracing sample_ratio {ratio} is outside 0..1")
    if (environ.get("OTEL_TRACES_SAMPLER") or "").strip():
        ratio = None
    check_installed()
    return TracingSettings(endpoint=endpoint, sample_ratio=ratio, log_prompts=log_prompts,
                           gateway_name=gateway_name)
