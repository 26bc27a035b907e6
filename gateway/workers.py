"""Several gateway processes on one port: ``skyrelay gateway serve --workers N``.

One Python process uses one core. With ``--workers N`` a small supervisor (this module) forks
N workers; each builds its own app (event loop, upstream connection pool, meter thread) and
listens on the same ports with ``SO_REUSEPORT``, so the kernel spreads new connections over
them (https://man7.org/linux/man-pages/man7/socket.7.html, ``SO_REUSEPORT``).

What stays correct across workers:

* **Limits and budgets** must be shared: with more than one worker they need the Redis store
  (``SKYRELAY_REDIS_URL``); :func:`choose_workers` refuses N > 1 without it, and the default
  is then one worker. Routing state (breakers, latency averages) stays per worker, as it is
  per task.
* **Metrics**: the workers count into ``prometheus_client``'s multiprocess files in one
  folder (``PROMETHEUS_MULTIPROC_DIR``, made by :func:`prepare_metrics_dir` before any
  worker starts), so ``/metrics`` on any worker shows the sum over all of them
  (https://prometheus.github.io/client_python/multiprocess/).
* **Usage records**: every worker writes its EMF lines to the shared stdout, each write at
  most ``PIPE_BUF`` bytes of whole lines, so lines of two workers never interleave.
* **Shutdown**: SIGTERM or SIGINT to the supervisor goes to every worker; each drains its
  requests (``SKYRELAY_DRAIN_SECONDS``) and the supervisor exits when all have, killing
  any that outlive the drain window plus a margin. A worker that dies on its own is
  started again; one that keeps dying within seconds of its start stops the whole gateway.

Example::

    n, note = choose_workers(requested=None, shared_state=True, cpus=available_cpus())
    prepare_metrics_dir()
    code = Supervisor(n, run_worker=lambda index: serve_one(index), stop_seconds=25).run()
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import time
from collections.abc import Callable, Mapping

from skyrelay.gateway.envnames import REDIS_URL_ENV, WORKERS_ENV

log = logging.getLogger("skyrelay.gateway.workers")

__all__ = ["WORKERS_ENV", "Supervisor", "WorkersError", "available_cpus", "choose_workers",
           "prepare_metrics_dir", "shared_state_configured"]
#: Where prometheus_client keeps the workers' metric files (read at its import).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: A worker that exits sooner than this after its start counts as failing to start.
QUICK_EXIT_SECONDS = 5.0
#: After this many quick exits in a row the supervisor gives up.
MAX_QUICK_EXITS = 3


class WorkersError(ValueError):
    """The worker count cannot be honoured with this configuration."""


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def shared_state_configured(environ: Mapping[str, str]) -> bool:
    """Whether limits and budgets live in Redis (shared by processes) rather than in memory."""
    return bool(environ.get(REDIS_URL_ENV))


def choose_workers(requested: int | None, *, shared_state: bool,
                   cpus: int) -> tuple[int, str | None]:
    """The worker count and, when the default was lowered, a note saying why.

    ``requested`` None means the default: ``cpus`` with a shared state store, else 1 (the
    in-process limits and budgets are correct only in one process).
    """
    if requested is not None and requested < 1:
        raise WorkersError(f"--workers must be at least 1, not {requested}")
    if requested is None:
        if shared_state or cpus == 1:
            return cpus, None
        return 1, (f"1 worker although {cpus} CPUs are available: tenant limits and budgets "
                   f"are kept in this process; set {REDIS_URL_ENV} to share them and run "
                   f"{cpus} workers")
    if requested > 1 and not shared_state:
        raise WorkersError(
            f"--workers {requested} needs the shared state store: tenant limits and budgets "
            f"kept in memory would be counted once per worker, letting tenants use "
            f"{requested}x their allowance. Set {REDIS_URL_ENV} (redis:// or rediss://) or "
            "run one worker")
    return requested, None


def prepare_metrics_dir(environ: dict[str, str] | None = None) -> str:
    """A fresh folder for the workers' metric files, named in ``PROMETHEUS_MULTIPROC_DIR``.

    Must run before ``prometheus_client`` is imported in this process: the library picks
    its multiprocess value store at import time.
    """
    env = os.environ if environ is None else environ
    folder = tempfile.mkdtemp(prefix="skyrelay-metrics-")
    env[MULTIPROC_ENV] = folder
    return folder


class Supervisor:
    """Forks ``workers`` processes that each call ``run_worker(index)``, and keeps them up.

    ``run_worker`` runs in the child and returns when that worker has shut down (its exit
    status is 0 then, 1 if it raised). ``stop_seconds`` bounds how long the workers may take
    to drain after a stop signal before they are killed.
    """

    def __init__(self, workers: int, run_worker: Callable[[int], None], *,
                 stop_seconds: float, on_exit: Callable[[int], None] | None = None) -> None:
        if workers < 1:
            raise WorkersError("at least one worker")
        self.workers = workers
        self.run_worker = run_worker
        self.stop_seconds = stop_seconds
        self.on_exit = on_exit  # pid of an ended worker (e.g. to mark its gauges dead)
        self._children: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
        self._stopping = False
        self._quick_exits = 0

    def run(self) -> int:
        """Start the workers, supervise them until a stop signal, return the exit status."""
        previous = {sig: signal.signal(sig, self._on_stop)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        failed = False
        try:
            for index in range(self.workers):
                self._spawn(index)
            log.info("gateway running %d workers (pids %s)", self.workers,
                     ", ".join(map(str, self._children)))
            deadline: float | None = None
            while self._children:
                if self._stopping and deadline is None:
                    deadline = time.monotonic() + self.stop_seconds
                if deadline is not None and time.monotonic() > deadline:
                    self._signal_all(signal.SIGKILL)
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    time.sleep(0.05)
                    continue
                failed |= self._reap(pid, status)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if failed else 0

    def _spawn(self, index: int) -> None:
        supervisor = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)  # uvicorn installs its own
                signal.signal(signal.SIGINT, signal.default_int_handler)
                _stop_with_parent(supervisor)
                self.run_worker(index)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                log.exception("gateway worker %d failed", index)
                code = 1
            finally:
                os._exit(code)
        self._children[pid] = (index, time.monotonic())

    def _reap(self, pid: int, status: int) -> bool:
        """One worker ended: restart it unless stopping; True when the gateway failed."""
        index, started = self._children.pop(pid, (-1, 0.0))
        if index < 0:
            return False
        if self.on_exit is not None:
            self.on_exit(pid)
        code = os.waitstatus_to_exitcode(status)
        if self._stopping:
            return code not in (0, -signal.SIGTERM, -signal.SIGINT)
        log.error("gateway worker %d (pid %d) exited with status %d; starting it again",
                  index, pid, code)
        self._quick_exits = (self._quick_exits + 1
                             if time.monotonic() - started < QUICK_EXIT_SECONDS else 0)
        if self._quick_exits >= MAX_QUICK_EXITS:
            log.error("gateway workers keep exiting right after their start: stopping")
            self._stopping = True
            self._signal_all(signal.SIGTERM)
            return True
        self._spawn(index)
        return False

    def _on_stop(self, signum: int, frame: object) -> None:
        if not self._stopping:
            log.info("stopping %d workers (signal %d): they drain first", len(self._children),
                     signum)
        self._stopping = True
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: int) -> None:
        for pid in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def _stop_with_parent(parent: int) -> None:
    """Ask the kernel for SIGTERM when the supervisor dies (even by SIGKILL), so no worker
    outlives it holding the port (``PR_SET_PDEATHSIG``,
    https://man7.org/linux/man-pages/man2/PR_SET_PDEATHSIG.2const.html)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != parent:  # it died before the request took effect
        raise SystemExit(0)
