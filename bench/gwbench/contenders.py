"""The contenders, one interface: start in front of the upstream, give an endpoint, stop.

- ``direct``: no proxy, wrk talks to the upstream (the baseline every "added" figure uses);
- ``nginx``: one nginx ``proxy_pass`` hop with keepalive to the upstream (the floor);
- ``gateway``: ``skyrelay gateway serve`` on a generated spec whose routes go to the upstream
  through an ``openai_compatible`` endpoint, with its default features (tenant API-key auth,
  routing, residency check, metering);
- ``litellm``: the pinned LiteLLM proxy (own venv), master key on, logging at ERROR.

Example::

    ctx = Context(tmp=Path(tmp), procs=procs, upstream_port=18080)
    endpoint = CONTENDERS["nginx"]().start(ctx)
    ...
    endpoint.stop()
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gwbench import litellm as litellm_mod
from gwbench.procs import Child, HarnessError, ProcessGroup, free_port, wait_http, wait_port
from gwbench.upstream import (
    CHAT_PATH,
    JSON_PREFIX,
    SSE_PREFIX,
    UPSTREAM_MODEL,
    nginx_argv,
    write_proxy_conf,
)

#: Model names clients ask the proxies for.
CHAT_ROUTE = "bench-chat"
STREAM_ROUTE = "bench-stream"
#: Environment variable the gateway's bench spec reads the tenant key from.
GATEWAY_KEY_ENV = "SKYRELAY_BENCH_KEY"


@dataclass
class Context:
    """What every contender needs: temp folder, process group, upstream port, a logger."""

    tmp: Path
    procs: ProcessGroup
    upstream_port: int
    log: Callable[[str], None] = print
    litellm_venv: Path = Path(__file__).resolve().parent.parent / ".venv-litellm"
    gateway_argv: list[str] | None = None  # override the gateway command (before --spec)
    gateway_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Endpoint:
    """A running contender: where to send requests, with which key and model names."""

    name: str
    port: int
    json_path: str
    sse_path: str
    api_key: str | None
    chat_model: str
    stream_model: str
    child: Child | None  # root of the process tree whose memory is reported; None = no proxy
    ctx: Context
    version: str = ""

    @property
    def pid(self) -> int | None:
        """Root pid of the proxy's process tree, if there is a proxy."""
        return self.child.pid if self.child else None

    def stop(self) -> None:
        """Stop the proxy (no-op for direct)."""
        if self.child is not None:
            self.ctx.procs.stop(self.child, grace=10.0)
            self.child = None


class Contender:
    """Base class: a name, a label for tables and ``start``."""

    name = ""
    label = ""

    def start(self, ctx: Context) -> Endpoint:
        """Start the contender and wait until it serves; return its endpoint."""
        raise NotImplementedError


class Direct(Contender):
    """No proxy: requests go straight to the upstream."""

    name = "direct"
    label = "direct (no proxy)"

    def start(self, ctx: Context) -> Endpoint:  # noqa: D102
        return Endpoint(self.name, ctx.upstream_port, JSON_PREFIX + CHAT_PATH,
                        SSE_PREFIX + CHAT_PATH, None, UPSTREAM_MODEL, UPSTREAM_MODEL, None, ctx)


class NginxProxy(Contender):
    """One nginx ``proxy_pass`` hop, keepalive to the upstream: the floor for a proxy."""

    name = "nginx"
    label = "nginx proxy_pass"

    def start(self, ctx: Context) -> Endpoint:  # noqa: D102
        port = free_port()
        conf = write_proxy_conf(ctx.tmp, port, ctx.upstream_port)
        child = ctx.procs.start("nginx-proxy", nginx_argv(conf), log_dir=ctx.tmp)
        wait_port(port, timeout=15, proc=child)
        return Endpoint(self.name, port, JSON_PREFIX + CHAT_PATH, SSE_PREFIX + CHAT_PATH, None,
                        UPSTREAM_MODEL, UPSTREAM_MODEL, child, ctx)


def gateway_spec(upstream_port: int) -> dict[str, object]:
    """A platform spec routing two models to the upstream (JSON and SSE base URLs).

    Residency is on (classification ``internal`` allows ``us``; the endpoint processes in
    ``us``), and the tenant's limits are far above what the benchmark sends, so the gateway
    runs every check without throttling the load.
    """
    price = {"input_per_million": 1.0, "output_per_million": 2.0}

    def endpoint(name: str, prefix: str) -> dict[str, object]:
        return {"name": name, "base_url": f"http://127.0.0.1:{upstream_port}{prefix}",
                "processing": ["us"],
                "models": [{"name": UPSTREAM_MODEL, "model": UPSTREAM_MODEL, "price": price}]}

    return {
        "name": "bench",
        "aws": {"regions": {"us-east-1": {}}},
        "openai_compatible": [endpoint("bench-json", JSON_PREFIX),
                              endpoint("bench-sse", SSE_PREFIX)],
        "routes": [
            {"name": CHAT_ROUTE, "targets": [
                {"cloud": "openai", "endpoint": "bench-json", "model": UPSTREAM_MODEL}]},
            {"name": STREAM_ROUTE, "targets": [
                {"cloud": "openai", "endpoint": "bench-sse", "model": UPSTREAM_MODEL}]},
        ],
        "tenants": [{
            "name": "bench", "api_key": {"env": GATEWAY_KEY_ENV},
            "routes": [CHAT_ROUTE, STREAM_ROUTE], "classification": "internal",
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


class Gateway(Contender):
    """``skyrelay gateway serve`` with its default features on."""

    name = "gateway"
    label = "skyrelay gateway"

    def start(self, ctx: Context) -> Endpoint:  # noqa: D102
        spec_path = ctx.tmp / "gateway-spec.yaml"
        spec_path.write_text(yaml.safe_dump(gateway_spec(ctx.upstream_port), sort_keys=False))
        from skyrelay.gateway.tenancy.keys import new_key

        key, stored = new_key()  # the gateway is given only the salted hash, as in production
        port = free_port()
        base = ctx.gateway_argv or [skyrelay_cli(), "gateway", "serve"]
        argv = [*base, "--spec", str(spec_path), "--host", "127.0.0.1", "--port", str(port)]
        env = {GATEWAY_KEY_ENV: stored, "PYTHONUNBUFFERED": "1", **ctx.gateway_env}
        child = ctx.procs.start("gateway", argv, log_dir=ctx.tmp, env=env)
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=child)
        return Endpoint(self.name, port, "/v1" + CHAT_PATH, "/v1" + CHAT_PATH, key,
                        CHAT_ROUTE, STREAM_ROUTE, child, ctx, version=_git_version())


def _git_version() -> str:
    head = Path(__file__).resolve().parents[2] / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (head.parent / ref[5:]).read_text().strip()[:12]
        return ref[:12]
    except OSError:
        return ""


class LiteLLM(Contender):
    """The LiteLLM proxy, pinned, in its own venv; one worker, master key, errors-only logs."""

    name = "litellm"
    label = f"LiteLLM {litellm_mod.LITELLM_VERSION}"

    def start(self, ctx: Context) -> Endpoint:  # noqa: D102
        exe = litellm_mod.ensure_litellm(ctx.litellm_venv, log=ctx.log)
        from skyrelay.gateway.tenancy.keys import new_key

        key, stored = new_key()  # the gateway is given only the salted hash, as in production
        port = free_port()
        conf = litellm_mod.write_config(ctx.tmp, upstream_port=ctx.upstream_port,
                                        master_key=key, chat_model=CHAT_ROUTE,
                                        stream_model=STREAM_ROUTE)
        env = dict(litellm_mod.LITELLM_ENV)
        # Keep the proxy from seeing the project's venv or a stray config.
        env["VIRTUAL_ENV"] = str(ctx.litellm_venv)
        env["PATH"] = f"{ctx.litellm_venv / 'bin'}:{os.environ.get('PATH', '')}"
        child = ctx.procs.start("litellm", litellm_mod.litellm_argv(exe, conf, port),
                                log_dir=ctx.tmp, env=env, cwd=ctx.tmp)
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", timeout=180, proc=child)
        return Endpoint(self.name, port, "/v1" + CHAT_PATH, "/v1" + CHAT_PATH, key,
                        CHAT_ROUTE, STREAM_ROUTE, child, ctx,
                        version=litellm_mod.LITELLM_VERSION)


CONTENDERS: dict[str, type[Contender]] = {
    c.name: c for c in (Direct, NginxProxy, Gateway, LiteLLM)
}

