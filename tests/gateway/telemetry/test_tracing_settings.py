"""When the gateway traces and where to: the spec's ``gateway.tracing`` and the standard
``OTEL_*`` variables (:mod:`skyrelay.gateway.telemetry.settings`), the clear error without
the ``tracing`` extra, and a gateway that imports and serves without OpenTelemetry."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.serve import ConfigError, build_app
from skyrelay.gateway.telemetry import settings
from skyrelay.gateway.telemetry.settings import TracingUnavailable, resolve
from skyrelay.gateway.testing.harness import base_config, base_config_dict

SPEC_ON = {"exporter": "otlp", "endpoint": "http://collector:4318/v1/traces",
           "sample_ratio": 0.25}


def test_off_without_spec_or_environment() -> None:
    assert resolve(None, {}) is None
    assert resolve({"exporter": "off", "endpoint": "", "sample_ratio": 1.0}, {}) is None


def test_the_traces_endpoint_variable_turns_it_on_as_given() -> None:
    got = resolve(None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/x"})
    assert got is not None and got.endpoint == "http://127.0.0.1:9/x"
    assert got.sample_ratio == 1.0 and got.log_prompts is False


def test_the_base_endpoint_variable_gets_the_signal_path() -> None:
    got = resolve(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318/"})
    assert got is not None and got.endpoint == "http://127.0.0.1:4318/v1/traces"


def test_the_spec_turns_it_on_and_the_environment_overrides_its_endpoint() -> None:
    got = resolve(SPEC_ON, {}, log_prompts=True, gateway_name="acme")
    assert got is not None
    assert (got.endpoint, got.sample_ratio, got.log_prompts, got.gateway_name) == (
        "http://collector:4318/v1/traces", 0.25, True, "acme")
    env = resolve(SPEC_ON, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/t"})
    assert env is not None and env.endpoint == "http://127.0.0.1:1/t"


@pytest.mark.parametrize("environ", [{"OTEL_SDK_DISABLED": "true"},
                                     {"OTEL_SDK_DISABLED": " TRUE "},
                                     {"OTEL_TRACES_EXPORTER": "none"}])
def test_the_sdk_switches_turn_it_off_over_spec_and_endpoint(environ: dict[str, str]) -> None:
    full = {**environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/v1/traces"}
    assert resolve(SPEC_ON, full) is None


def test_sdk_disabled_false_keeps_it_on() -> None:
    assert resolve(SPEC_ON, {"OTEL_SDK_DISABLED": "false"}) is not None


def test_an_otel_sampler_replaces_the_spec_ratio() -> None:
    got = resolve(SPEC_ON, {"OTEL_TRACES_SAMPLER": "always_off"})
    assert got is not None and got.sample_ratio is None


@pytest.mark.parametrize(("environ", "named"), [
    ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
    ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"),
    ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "http/protobuf"),
])
def test_exporters_the_gateway_does_not_ship_are_refused(environ: dict[str, str],
                                                          named: str) -> None:
    with pytest.raises(ValueError, match=named):
        resolve(SPEC_ON, environ)


def test_a_ratio_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="outside 0..1"):
        resolve({**SPEC_ON, "sample_ratio": 1.5}, {})


def test_missing_packages_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # an exporter package that is not installed, as in a gateway-only install
    monkeypatch.setitem(sys.modules,
                        "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(TracingUnavailable, match=r"skyrelay\[gateway,tracing\]"):
        resolve(SPEC_ON, {})
    assert resolve(None, {}) is None  # tracing off: nothing is needed
    cfg = GatewayConfig.from_dict({**base_config_dict({"a": {}}, {"chat": {"targets": ["a"]}}),
                                   "tracing": SPEC_ON})
    with pytest.raises(ConfigError, match="tracing extra"):
        build_app(cfg, environ={}, probe_interval=0)


def test_build_app_resolves_the_environment_it_is_given() -> None:
    app = build_app(base_config({"a": {}}, {"chat": {"targets": ["a"]}}), probe_interval=0,
                    environ={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/t"})
    assert app.tracing_settings is not None
    assert app.tracing_settings.endpoint == "http://127.0.0.1:9/t"
    assert app.tracing is None  # made at start-up, in the serving process
    off = build_app(base_config({"a": {}}, {"chat": {"targets": ["a"]}}), probe_interval=0,
                    environ={})
    assert off.tracing_settings is None


def test_the_derived_config_carries_the_spec_choice() -> None:
    cfg = GatewayConfig.from_dict({**base_config_dict({"a": {}}, {"chat": {"targets": ["a"]}}),
                                   "tracing": SPEC_ON})
    assert cfg.tracing.as_dict() == SPEC_ON
    assert GatewayConfig.from_dict(base_config_dict({"a": {}}, {"chat": {"targets": ["a"]}})
                                   ).tracing.exporter == "off"


def test_the_gateway_serves_without_opentelemetry_installed(tmp_path: Path) -> None:
    # A fresh interpreter where every opentelemetry import fails, as without the extra:
    # the gateway imports, builds and answers a request; configured tracing is a clear error.
    script = textwrap.dedent("""
        import sys
        from importlib.abc import MetaPathFinder

        class NoOtel(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoOtel())
        import httpx
        from skyrelay.gateway.serve import ConfigError, build_app
        from skyrelay.gateway.testing.harness import ServerThread, base_config
        from skyrelay.gateway.testing.upstreams import OpenAIUpstream

        with OpenAIUpstream(max_lifetime=60) as up:
            cfg = base_config({"a": {"endpoint": up.url + "/v1"}}, {"chat": {"targets": ["a"]}})
            server = ServerThread(build_app(cfg, environ={"T1_KEY": "sk-k"},
                                            probe_interval=0)).start()
            try:
                r = httpx.post(server.url + "/v1/chat/completions",
                               headers={"authorization": "Bearer sk-k"},
                               json={"model": "chat",
                                     "messages": [{"role": "user", "content": "hi"}]})
                print("status", r.status_code)
            finally:
                server.stop()
            try:
                build_app(cfg, environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
            except ConfigError as err:
                print("error", err)
        print("otel loaded", any(m.startswith("opentelemetry") for m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-P", "-c", script], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "status 200" in out
    assert "error tracing is configured" in out and "tracing extra" in out
    assert "otel loaded False" in out


def test_required_modules_are_the_exporter_and_the_sdk() -> None:
    assert settings.REQUIRED_MODULES == (
        "opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter")
