"""The skyrelay gateway as three contenders: one worker, two workers, and traced.

- ``gateway``: ``skyrelay gateway serve --spec <generated>`` with its default features (tenant
  API-key auth, routing, residency check, metering), one worker: ``--workers 1`` is passed when
  the CLI has the flag (its default is every CPU), so the figure stays a one-process figure;
- ``gateway-2w``: the same with :attr:`Context.workers_args` (default ``--workers 2``); when the
  CLI's ``--help`` does not list ``--workers`` the contender fails with a clear error and the
  run goes on. Several workers share limits and budgets through Redis, which the gateway
  requires for them: the harness starts a loopback redis-server (:mod:`gwbench.redis`) unless
  ``--gateway-env SKYRELAY_REDIS_URL=...`` names one; its CPU is reported beside the gateway's;
- ``gateway-redis``: one worker, limits and budgets in the same loopback Redis as
  ``gateway-2w`` uses: it separates the cost of the shared state from that of the workers;
- ``gateway-traced``: one worker with OpenTelemetry tracing on, exporting OTLP/HTTP to a
  :class:`gwbench.otlp.SpanCounter` on loopback (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``;
  sample ratio 1.0, every request traced). The untraced ones get ``OTEL_SDK_DISABLED=true`` so
  an ``OTEL_*`` variable in the caller's environment cannot turn tracing on for them.

Example::

    spec = gateway_spec(upstream_port=18080)      # routes bench-chat, bench-stream, bench-long
    endpoint = Gateway().start(ctx)
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from gwbench.endpoint import Contender, Context, Endpoint
from gwbench.otlp import SpanCounter
from gwbench.procs import HarnessError, free_port, wait_http
from gwbench.redis import start_redis
from gwbench.upstream import CHAT_PATH, JSON_PREFIX, LONG_PREFIX, SSE_PREFIX, UPSTREAM_MODEL

#: Model names clients ask the proxies for.
CHAT_ROUTE = "bench-chat"
STREAM_ROUTE = "bench-stream"
LONG_ROUTE = "bench-long"
#: Environment variable the gateway's bench spec reads the tenant key from.
GATEWAY_KEY_ENV = "SKYRELAY_BENCH_KEY"


def gateway_spec(upstream_port: int) -> dict[str, object]:
    """A platform spec routing three models to the upstream (JSON, SSE and long-SSE URLs).

    Residency is on (classification ``internal`` allows ``us``; the endpoint processes in
    ``us``), and the tenant's limits are far above what the benchmark sends, so the gateway
    runs every check without throttling the load.
    """
    price = {"input_per_million": 1.0, "output_per_million": 2.0}

    def endpoint(name: str, prefix: str) -> dict[str, object]:
        return {"name": name, "base_url": f"http://127.0.0.1:{upstream_port}{prefix}",
                "processing": ["us"],
                "models": [{"name": UPSTREAM_MODEL, "model": UPSTREAM_MODEL, "price": price}]}

    def route(name: str, endpoint_name: str) -> dict[str, object]:
        return {"name": name, "targets": [
            {"cloud": "openai", "endpoint": endpoint_name, "model": UPSTREAM_MODEL}]}

    return {
        "name": "bench",
        "aws": {"regions": {"us-east-1": {}}},
        "openai_compatible": [endpoint("bench-json", JSON_PREFIX),
                              endpoint("bench-sse", SSE_PREFIX),
                              endpoint("bench-long", LONG_PREFIX)],
        "routes": [route(CHAT_ROUTE, "bench-json"), route(STREAM_ROUTE, "bench-sse"),
                   route(LONG_ROUTE, "bench-long")],
        "tenants": [{
            "name": "bench", "api_key": {"env": GATEWAY_KEY_ENV},
            "routes": [CHAT_ROUTE, STREAM_ROUTE, LONG_ROUTE], "classification": "internal",
            "monthly_budget": 1_000_000_000, "requests_per_minute": 1_000_000_000,
            "tokens_per_minute": 1_000_000_000_000,
        }],
        "compliance": {"classifications": {"internal": {"allowed": ["us"]}}},
        "gateway": {"regions": ["us-east-1"]},
    }


def skyrelay_cli() -> str:
    """The ``skyrelay`` console script of the running interpreter's environment."""
    beside = Path(sys.executable).parent / "skyrelay"
    found = str(beside) if beside.exists() else shutil.which("skyrelay")
    if not found:
        raise HarnessError("the skyrelay CLI is not installed (pip install -e '.[gateway]')")
    return found


@functools.lru_cache(maxsize=16)
def _help_text(argv: tuple[str, ...], env: tuple[tuple[str, str], ...]) -> str:
    done = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **dict(env)}, check=False)
    return done.stdout if done.returncode == 0 else ""


def supports_workers(argv: Sequence[str], env: Mapping[str, str] | None = None) -> bool:
    """Whether ``<argv> --help`` lists a ``--workers`` option (the CLI of this checkout may
    predate it)."""
    return "--workers" in _help_text(tuple(argv), tuple(sorted((env or {}).items())))


def worker_args(base: Sequence[str], env: Mapping[str, str], wanted: Sequence[str] | None,
                ) -> tuple[list[str], int]:
    """(extra arguments, worker count) for a gateway started as ``base``.

    ``wanted`` None means one worker: ``--workers 1`` when the CLI knows the flag, nothing
    otherwise. Else ``wanted`` is used as given; a ``--workers`` in it that the CLI does not
    list is a HarnessError.
    """
    known = supports_workers(base, env)
    if wanted is None:
        return (["--workers", "1"] if known else []), 1
    args = list(wanted)
    if "--workers" in args and not known:
        raise HarnessError(f"{' '.join(base)} --help lists no --workers option (the CLI of "
                           "this environment predates it): cannot start several workers")
    count = 1
    if "--workers" in args:
        index = args.index("--workers")
        try:
            count = int(args[index + 1])
        except (IndexError, ValueError):
            raise HarnessError(f"--workers needs a number in {args}") from None
    return args, count


def _git_version() -> str:
    head = Path(__file__).resolve().parents[2] / ".git"
    try:
        if head.is_file():  # a worktree: ".git" names the real git directory
            head = Path(head.read_text().split(":", 1)[1].strip())
        ref = (head / "HEAD").read_text().strip()
        if ref.startswith("ref: "):
            for base in (head, head.parent.parent):  # worktree refs live in the main .git
                if (base / ref[5:]).exists():
                    return (base / ref[5:]).read_text().strip()[:12]
            return ""
        return ref[:12]
    except (OSError, IndexError):
        return ""


class Gateway(Contender):
    """``skyrelay gateway serve`` with its default features on, one worker, untraced."""

    name = "gateway"
    label = "skyrelay gateway"
    #: False: one worker; True: the context's ``workers_args``.
    several_workers = False
    traced = False
    #: Keep limits and budgets in a loopback Redis even with one worker.
    redis_state = False

    def start(self, ctx: Context) -> Endpoint:  # noqa: D102
        spec_path = ctx.tmp / f"{self.name}-spec.yaml"
        spec_path.write_text(yaml.safe_dump(gateway_spec(ctx.upstream_port), sort_keys=False))
        from skyrelay.gateway.tenancy.keys import new_key

        key, stored = new_key()  # the gateway is given only the salted hash, as in production
        port = free_port()
        base = ctx.gateway_argv or [skyrelay_cli(), "gateway", "serve"]
        extra, workers = worker_args(base, ctx.gateway_env,
                                     ctx.workers_args if self.several_workers else None)
        argv = [*base, "--spec", str(spec_path), "--host", "127.0.0.1", "--port", str(port),
                *extra]
        env = {GATEWAY_KEY_ENV: stored, "PYTHONUNBUFFERED": "1", "OTEL_SDK_DISABLED": "true",
               # not the default 9464: a gateway already running on this machine holds it
               "SKYRELAY_METRICS_PORT": str(free_port())}
        sink = redis = None
        if (workers > 1 or self.redis_state) and "SKYRELAY_REDIS_URL" not in ctx.gateway_env:
            redis = start_redis(ctx, name=f"{self.name}-redis")
            env.update(redis.env)
        if self.traced:
            sink = SpanCounter().start()
            env.update({"OTEL_SDK_DISABLED": "false",
                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.traces_url,
                        "OTEL_SERVICE_NAME": "skyrelay-bench"})
        env.update(ctx.gateway_env)
        try:
            child = ctx.procs.start(self.name, argv, log_dir=ctx.tmp, env=env)
            wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=child)
        except BaseException:
            if sink is not None:
                sink.stop()
            if redis is not None:
                ctx.procs.stop(redis.child)
            raise
        ep = Endpoint(self.name, port, "/v1" + CHAT_PATH, "/v1" + CHAT_PATH, key, CHAT_ROUTE,
                      STREAM_ROUTE, child, ctx, version=_git_version(),
                      long_path="/v1" + CHAT_PATH, long_model=LONG_ROUTE, workers=workers)
        ep.facts["argv_extra"] = extra
        if redis is not None:
            ep.aux_pids["redis"] = redis.child.pid
            ep.facts["shared_state"] = "redis (started by the harness)"
            ep.on_stop.append(lambda: ctx.procs.stop(redis.child))
        if sink is not None:
            ep.on_stop.append(lambda: _finish_sink(sink, ep))
        return ep


def _finish_sink(sink: SpanCounter, ep: Endpoint) -> None:
    """After the gateway stopped (its batch processor flushed on shutdown): the counts."""
    time.sleep(0.2)  # the last export's handler may still be counting
    ep.facts["traces"] = sink.counts()
    sink.stop()


class GatewayTwoWorkers(Gateway):
    """The gateway with ``--workers 2`` (or the context's ``workers_args``)."""

    name = "gateway-2w"
    label = "skyrelay gateway, 2 workers"
    several_workers = True


class GatewayRedis(Gateway):
    """One worker with its limits and budgets in Redis, as ``gateway-2w`` has them."""

    name = "gateway-redis"
    label = "skyrelay gateway, Redis state"
    redis_state = True


class GatewayTraced(Gateway):
    """The gateway with tracing on, every request sampled, spans to a loopback receiver."""

    name = "gateway-traced"
    label = "skyrelay gateway, traced"
    traced = True
