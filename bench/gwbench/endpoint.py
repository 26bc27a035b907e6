"""What every contender shares: the run's context, a running endpoint, the base class.

Example::

    ctx = Context(tmp=Path(tmp), procs=procs, upstream_port=18080)
    endpoint = CONTENDERS["nginx"]().start(ctx)     # gwbench.contenders
    print(endpoint.port, endpoint.headers_for("sse"))
    endpoint.stop()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gwbench.procs import Child, ProcessGroup

BENCH_DIR = Path(__file__).resolve().parent.parent
#: The three kinds of request the harness sends: chat JSON, short stream, long stream.
KINDS = ("json", "sse", "long")


@dataclass
class Context:
    """What every contender needs: temp folder, process group, upstream port, a logger."""

    tmp: Path
    procs: ProcessGroup
    upstream_port: int
    log: Callable[[str], None] = print
    litellm_venv: Path = BENCH_DIR / ".venv-litellm"
    portkey_dir: Path = BENCH_DIR / ".portkey"
    gateway_argv: list[str] | None = None  # override the gateway command (before --spec)
    gateway_env: dict[str, str] = field(default_factory=dict)
    # Extra arguments of the gateway-2w contender (after the port).
    workers_args: tuple[str, ...] = ("--workers", "2")
    upstream_pid: int | None = None


@dataclass
class Endpoint:
    """A running contender: where to send requests, with which key, model names, headers."""

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
    long_path: str = ""
    long_model: str = ""
    #: Extra request headers per kind ("json", "sse", "long"), e.g. Portkey's provider config.
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    workers: int = 1
    #: Helper servers of this contender whose CPU is reported beside it (name -> pid).
    aux_pids: dict[str, int] = field(default_factory=dict)
    #: Called after the proxy stopped (e.g. read a trace receiver's counts, stop it).
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    #: Figures the contender reports about itself (filled by ``on_stop`` hooks too).
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        """Root pid of the proxy's process tree, if there is a proxy."""
        return self.child.pid if self.child else None

    def headers_for(self, kind: str) -> dict[str, str]:
        """The extra headers of requests of ``kind`` (one of :data:`KINDS`)."""
        if kind not in KINDS:
            raise ValueError(f"unknown request kind {kind!r}; one of {KINDS}")
        return dict(self.headers.get(kind, {}))

    def stop(self) -> None:
        """Stop the proxy (no-op for direct), then run the ``on_stop`` hooks once."""
        if self.child is not None:
            self.ctx.procs.stop(self.child, grace=10.0)
            self.child = None
        hooks, self.on_stop = self.on_stop, []
        for hook in hooks:
            hook()


class Contender:
    """Base class: a name, a label for tables and ``start``."""

    name = ""
    label = ""

    def start(self, ctx: Context) -> Endpoint:
        """Start the contender and wait until it serves; return its endpoint."""
        raise NotImplementedError
