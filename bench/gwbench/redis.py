"""A loopback redis-server for the gateway's shared limits and budgets (``gateway-2w``).

With more than one worker the gateway keeps tenant limits and budgets in Redis
(``SKYRELAY_REDIS_URL``) and refuses to start without it. The harness starts Debian's
``redis-server`` in the run's temp folder: 127.0.0.1 only, nothing persisted, a random
password in a config file readable by the harness's user only (never on a command line) and
given to the gateway in ``SKYRELAY_REDIS_PASSWORD``.

Example::

    server = start_redis(ctx)
    env = server.env          # SKYRELAY_REDIS_URL, SKYRELAY_REDIS_PASSWORD
    ...
    ctx.procs.stop(server.child)
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from gwbench.endpoint import Context
from gwbench.procs import Child, HarnessError, free_port, wait_port


@dataclass(frozen=True)
class RedisServer:
    """A started redis-server: its process, port and the gateway's environment for it."""

    child: Child
    port: int
    env: dict[str, str]


def write_conf(folder: Path, port: int, password: str) -> Path:
    """redis.conf: loopback, no persistence, password; mode 0600."""
    if any(c.isspace() or c == '"' for c in password):
        raise ValueError("password must not contain spaces or quotes")
    conf = folder / "redis.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"bind 127.0.0.1\nport {port}\nprotected-mode yes\nsave \"\"\n"
                  f"appendonly no\ndir {folder}\nrequirepass {password}\n")
    return conf


def start_redis(ctx: Context, name: str = "redis") -> RedisServer:
    """Start redis-server in the process group; wait until it accepts connections."""
    binary = shutil.which("redis-server")
    if not binary:
        raise HarnessError("redis-server not found: several gateway workers share limits "
                           "and budgets through Redis (make system-packages installs it)")
    folder = ctx.tmp / name
    folder.mkdir(exist_ok=True)
    port = free_port()
    password = secrets.token_hex(16)
    child = ctx.procs.start(name, [binary, str(write_conf(folder, port, password))],
                            log_dir=ctx.tmp)
    wait_port(port, timeout=15, proc=child)
    env = {"SKYRELAY_REDIS_URL": f"redis://127.0.0.1:{port}/0",
           "SKYRELAY_REDIS_PASSWORD": password}
    return RedisServer(child, port, env)
