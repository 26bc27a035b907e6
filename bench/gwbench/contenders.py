"""The contenders, one interface: start in front of the upstream, give an endpoint, stop.

- ``direct``: no proxy, wrk talks to the upstream (the baseline every "added" figure uses);
- ``nginx``: one nginx ``proxy_pass`` hop with keepalive to the upstream (the floor);
- ``gateway``, ``gateway-2w``, ``gateway-redis``, ``gateway-traced``: ``skyrelay gateway
  serve`` on a generated spec (one worker, two workers, one worker with Redis state, tracing
  on; see :mod:`gwbench.skyrelay_gw`);
- ``litellm``: the pinned LiteLLM proxy (own venv), master key on, logging at ERROR;
- ``portkey``: the pinned Portkey OSS gateway (Node, ``bench/.portkey``), provider and
  upstream given per request in ``x-portkey-*`` headers.

Example::

    ctx = Context(tmp=Path(tmp), procs=procs, upstream_port=18080)
    endpoint = CONTENDERS["nginx"]().start(ctx)
    ...
    endpoint.stop()
"""

from __future__ import annotations

import os

from gwbench import litellm as litellm_mod
from gwbench import portkey as portkey_mod
from gwbench.endpoint import Contender, Context, Endpoint
from gwbench.procs import free_port, wait_http, wait_port
from gwbench.skyrelay_gw import (
    CHAT_ROUTE,
    GATEWAY_KEY_ENV,
    LONG_ROUTE,
    STREAM_ROUTE,
    Gateway,
    GatewayRedis,
    GatewayTraced,
    GatewayTwoWorkers,
    gateway_spec,
    skyrelay_cli,
)
from gwbench.upstream import (
    CHAT_PATH,
    JSON_PREFIX,
    LONG_PREFIX,
    SSE_PREFIX,
    UPSTREAM_MODEL,
    nginx_argv,
    write_proxy_conf,
)

__all__ = ["CHAT_ROUTE", "CONTENDERS", "DEFAULT_CONTENDERS", "GATEWAY_KEY_ENV", "LONG_ROUTE",
           "STREAM_ROUTE", "Context", "Contender", "Endpoint", "gateway_spec", "skyrelay_cli"]


class Direct(Contender):
    """No proxy: requests go straight to the upstream."""

    name = "direct"
    label = "direct (no proxy)"

    def start(self, ctx: Context) -> Endpoint:  # noqa: D102
        return Endpoint(self.name, ctx.upstream_port, JSON_PREFIX + CHAT_PATH,
                        SSE_PREFIX + CHAT_PATH, None, UPSTREAM_MODEL, UPSTREAM_MODEL, None, ctx,
                        long_path=LONG_PREFIX + CHAT_PATH, long_model=UPSTREAM_MODEL)


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
                        UPSTREAM_MODEL, UPSTREAM_MODEL, child, ctx,
                        long_path=LONG_PREFIX + CHAT_PATH, long_model=UPSTREAM_MODEL)


class LiteLLM(Contender):
    """The LiteLLM proxy, pinned, in its own venv; one worker, master key, errors-only logs."""

    name = "litellm"
    label = f"LiteLLM {litellm_mod.LITELLM_VERSION}"

    def start(self, ctx: Context) -> Endpoint:  # noqa: D102
        exe = litellm_mod.ensure_litellm(ctx.litellm_venv, log=ctx.log)
        from skyrelay.gateway.tenancy.keys import new_key

        key, _stored = new_key()  # a random master key
        port = free_port()
        conf = litellm_mod.write_config(ctx.tmp, upstream_port=ctx.upstream_port,
                                        master_key=key, chat_model=CHAT_ROUTE,
                                        stream_model=STREAM_ROUTE, long_model=LONG_ROUTE)
        env = dict(litellm_mod.LITELLM_ENV)
        # Keep the proxy from seeing the project's venv or a stray config.
        env["VIRTUAL_ENV"] = str(ctx.litellm_venv)
        env["PATH"] = f"{ctx.litellm_venv / 'bin'}:{os.environ.get('PATH', '')}"
        child = ctx.procs.start("litellm", litellm_mod.litellm_argv(exe, conf, port),
                                log_dir=ctx.tmp, env=env, cwd=ctx.tmp)
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", timeout=180, proc=child)
        return Endpoint(self.name, port, "/v1" + CHAT_PATH, "/v1" + CHAT_PATH, key,
                        CHAT_ROUTE, STREAM_ROUTE, child, ctx,
                        version=litellm_mod.LITELLM_VERSION, long_path="/v1" + CHAT_PATH,
                        long_model=LONG_ROUTE)


class Portkey(Contender):
    """The Portkey OSS gateway, pinned, on Node; upstream chosen by request headers."""

    name = "portkey"
    label = f"Portkey {portkey_mod.PORTKEY_VERSION}"

    def start(self, ctx: Context) -> Endpoint:  # noqa: D102
        script = portkey_mod.ensure_portkey(ctx.portkey_dir, log=ctx.log)
        port = free_port()
        child = ctx.procs.start("portkey", portkey_mod.portkey_argv(script, port),
                                log_dir=ctx.tmp, env=portkey_mod.PORTKEY_ENV, cwd=ctx.tmp)
        wait_http(f"http://127.0.0.1:{port}{portkey_mod.READY_PATH}", timeout=60, proc=child)
        headers = {kind: portkey_mod.request_headers(ctx.upstream_port, prefix)
                   for kind, prefix in (("json", JSON_PREFIX), ("sse", SSE_PREFIX),
                                        ("long", LONG_PREFIX))}
        # Portkey has no key of its own: the bearer token goes to the upstream as the
        # provider's key (the upstream ignores it).
        return Endpoint(self.name, port, "/v1" + CHAT_PATH, "/v1" + CHAT_PATH,
                        "sk-bench-upstream-unused", UPSTREAM_MODEL, UPSTREAM_MODEL, child, ctx,
                        version=portkey_mod.PORTKEY_VERSION, long_path="/v1" + CHAT_PATH,
                        long_model=UPSTREAM_MODEL, headers=headers)


CONTENDERS: dict[str, type[Contender]] = {
    c.name: c for c in (Direct, NginxProxy, Gateway, LiteLLM, Portkey, GatewayTwoWorkers,
                        GatewayRedis, GatewayTraced)
}
#: What ``make bench`` runs when ``--contenders`` is not given.
DEFAULT_CONTENDERS = ("direct", "nginx", "gateway", "litellm", "portkey", "gateway-2w",
                      "gateway-redis", "gateway-traced")
