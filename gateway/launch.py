"""What ``skyrelay gateway serve`` runs: the config, then one process or N workers.

The order matters: the worker count is chosen and, for several workers, the metrics folder
made before anything imports ``prometheus_client`` (it picks its multiprocess store at
import time; :mod:`skyrelay.gateway.workers`). A broken setting (config, Redis URL, tracing,
ops variables) stops the command once, before any worker starts.

Example::

    launch(spec="examples/platform.yaml", config_file=None, config_env=None,
           host="127.0.0.1", port=8080, log_level="info", workers=None)
"""

from __future__ import annotations

import logging
import os
from typing import Any


class LaunchError(Exception):
    """The gateway cannot start with these settings (the message says why)."""


def launch(*, spec: str | None, config_file: str | None, config_env: str | None, host: str,
           port: int, log_level: str, workers: int | None) -> int:
    """Serve until SIGINT/SIGTERM; the exit status (0 after a clean stop)."""
    from skyrelay.gateway import workers as multi

    try:
        count, note = multi.choose_workers(
            workers, shared_state=multi.shared_state_configured(os.environ),
            cpus=multi.available_cpus())
    except multi.WorkersError as exc:
        raise LaunchError(str(exc)) from None
    if count > 1:
        multi.prepare_metrics_dir()
    # only now: these import prometheus_client
    from skyrelay.gateway.serve import (
        ConfigError,
        build_app,
        build_providers,
        check_tracing,
        load_config,
        serve,
    )
    from skyrelay.gateway.server.ops import OpsSettings
    from skyrelay.gateway.tenancy.keys import HashedKeys
    from skyrelay.gateway.tenancy.wiring import build_hooks, redis_url

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if note:
        logging.getLogger("skyrelay.gateway").info("%s", note)
    try:
        config = load_config(spec=spec, config_file=config_file, config_env=config_env)
    except ConfigError as exc:
        raise LaunchError(str(exc)) from None

    def make_app() -> Any:
        # Production path: salted key hashes, limits and budgets (Redis when configured),
        # and one usage record per request on stdout.
        # The environment is read from a copy taken here, in the worker: a process's
        # environment changes only from inside it, and the gateway sets its own only before
        # the workers start. A dict lookup of an unset key costs ~30 ns where os.environ's
        # costs ~2 µs (it raises inside), on every request to an upstream without a key.
        # Mounted secret files are still read per request, so those rotate.
        environ = dict(os.environ)
        try:
            hooks = build_hooks(environ)
            return build_app(config, providers=build_providers(config, environ),
                             authenticator=HashedKeys(config, environ=environ),
                             hooks=hooks, environ=environ)
        except (ValueError, ConfigError) as exc:  # e.g. a bad OTEL_* value
            raise LaunchError(str(exc)) from None

    if count == 1:
        serve(make_app(), host=host, port=port, log_level=log_level)
        return 0
    try:  # once here rather than in every worker
        ops = OpsSettings.from_env(os.environ)
        redis_url(os.environ)
        check_tracing(config)
    except (ValueError, ConfigError) as exc:
        raise LaunchError(str(exc)) from None
    supervisor = multi.Supervisor(
        count, lambda index: serve(make_app(), host=host, port=port, log_level=log_level,
                                   ops=ops, reuse_port=True),
        stop_seconds=ops.drain_seconds + 10)
    return supervisor.run()
