"""When the gateway traces and where to: the spec's ``gateway.tracing`` and the standard
``OTEL_*`` variables (:mod:`skyrelay.gateway.telemetry.settings`), clear errors for bad
values, and a gateway that serves and traces with no OpenTelemetry package installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.serve import ConfigError, build_app
from skyrelay.gateway.telemetry.settings import resolve
from skyrelay.gateway.testing.harness import base_config, base_config_dict
from skyrelay.gateway.testing.otlp_receiver import OtlpReceiver

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
    spec = resolve(SPEC_ON, {})
    assert spec is not None and (spec.sampler, spec.sample_ratio) == (
        "parentbased_traceidratio", 0.25)
    got = resolve(SPEC_ON, {"OTEL_TRACES_SAMPLER": "always_off"})
    assert got is not None and got.sampler == "always_off"
    ratio = resolve(SPEC_ON, {"OTEL_TRACES_SAMPLER": "traceidratio",
                              "OTEL_TRACES_SAMPLER_ARG": "0.1"})
    assert ratio is not None and (ratio.sampler, ratio.sample_ratio) == ("traceidratio", 0.1)


@pytest.mark.parametrize(("environ", "named"), [
    ({"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER"),
    ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}, "not a ratio"),
    ({"OTEL_RESOURCE_ATTRIBUTES": "team"}, "OTEL_RESOURCE_ATTRIBUTES"),
    ({"OTEL_EXPORTER_OTLP_HEADERS": "api-key"}, "OTEL_EXPORTER_OTLP_HEADERS"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318"}, "not an http"),
])
def test_bad_values_are_clear_errors_at_start_up(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        resolve(SPEC_ON, environ)
    cfg = GatewayConfig.from_dict({**base_config_dict({"a": {}}, {"chat": {"targets": ["a"]}}),
                                   "tracing": SPEC_ON})
    with pytest.raises(ConfigError, match=named):
        build_app(cfg, environ=environ, probe_interval=0)


def test_the_resource_names_the_service_as_the_specification_orders() -> None:
    plain = resolve(SPEC_ON, {}, gateway_name="acme")
    assert plain is not None
    resource = plain.resource()
    assert resource["service.name"] == "skyrelay-gateway"
    assert resource["skyrelay.gateway"] == "acme"
    assert resource["telemetry.sdk.name"] == "skyrelay"
    attrs = resolve(SPEC_ON, {"OTEL_RESOURCE_ATTRIBUTES": "service.name=a,team=ml%20ops"})
    assert attrs is not None and attrs.resource()["service.name"] == "a"
    assert attrs.resource()["team"] == "ml ops"
    named = resolve(SPEC_ON, {"OTEL_RESOURCE_ATTRIBUTES": "service.name=a",
                              "OTEL_SERVICE_NAME": "b"})
    assert named is not None and named.resource()["service.name"] == "b"


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


def test_the_gateway_serves_and_traces_without_opentelemetry_installed() -> None:
    # A fresh interpreter where every opentelemetry import fails, as in a plain gateway
    # install: the gateway imports, answers, and its spans reach the receiver (here).
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
        from skyrelay.gateway.serve import build_app
        from skyrelay.gateway.testing.harness import ServerThread, base_config
        from skyrelay.gateway.testing.upstreams import OpenAIUpstream

        with OpenAIUpstream(max_lifetime=60) as up:
            cfg = base_config({"a": {"endpoint": up.url + "/v1"}}, {"chat": {"targets": ["a"]}})
            app = build_app(cfg, environ={"T1_KEY": "sk-k",
                                          "OTEL_EXPORTER_OTLP_ENDPOINT": sys.argv[1]},
                            probe_interval=0)
            server = ServerThread(app).start()
            try:
                r = httpx.post(server.url + "/v1/chat/completions",
                               headers={"authorization": "Bearer sk-k"},
                               json={"model": "chat",
                                     "messages": [{"role": "user", "content": "hi"}]})
                print("status", r.status_code)
                print("flushed", app.tracing.force_flush(10_000))
            finally:
                server.stop()
        print("otel loaded", any(m.startswith("opentelemetry") for m in sys.modules))
    """)
    with OtlpReceiver(max_lifetime=120) as sink:
        out = subprocess.run([sys.executable, "-P", "-c", script, sink.url],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        spans = sink.wait_for(2)
    assert "status 200" in out and "flushed True" in out
    assert "otel loaded False" in out
    assert sorted(s["kind"] for s in spans) == ["CLIENT", "SERVER"]
