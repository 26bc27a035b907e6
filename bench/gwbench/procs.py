"""Child processes of the harness: started in their own process group, always stopped.

Every server the harness starts goes through :class:`ProcessGroup`, a context manager that
stops them all (SIGTERM to each process group, then SIGKILL) on normal exit, on error and on
interrupt. Children also get ``PR_SET_PDEATHSIG`` so a harness killed with SIGKILL does not
leave servers behind.

Example::

    with ProcessGroup() as procs:
        proc = procs.start("upstream", ["nginx", "-p", d, "-c", conf], log_dir=d)
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=10, proc=proc)
        print(tree_rss_bytes(proc.pid))
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class HarnessError(RuntimeError):
    """A benchmark step failed (a server did not start, a tool exited with an error)."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """A started child process, with the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The process id (also its process-group id)."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def log_tail(self, limit: int = 3000) -> str:
        """The last ``limit`` characters of the child's output, for error messages."""
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


@dataclass
class ProcessGroup:
    """Starts children and stops every one of them when the ``with`` block ends."""

    children: list[Child] = field(default_factory=list)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(self, name: str, argv: Sequence[str], *, log_dir: Path,
              env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Child:
        """Start ``argv`` in a new session; stdout and stderr go to ``log_dir/<name>.log``."""
        log_path = Path(log_dir) / f"{name}.log"
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(log_path, "ab") as log:
            try:
                popen = subprocess.Popen(
                    list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=full_env, cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent,
                )
            except FileNotFoundError as exc:
                raise HarnessError(f"{name}: cannot run {argv[0]!r}: {exc}") from None
        child = Child(name, popen, log_path)
        self.children.append(child)
        return child

    def stop(self, child: Child, grace: float = 5.0) -> None:
        """SIGTERM the child's process group, SIGKILL it after ``grace`` seconds."""
        if child in self.children:
            self.children.remove(child)
        _stop_group(child.popen, grace)

    def stop_all(self) -> None:
        """Stop every child still running, newest first."""
        while self.children:
            self.stop(self.children[-1])


def _stop_group(popen: subprocess.Popen[bytes], grace: float) -> None:
    pgid = popen.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=grace)
    # Kill stragglers of the group even when the leader already exited (workers, reloaders).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=grace)


def wait_port(port: int, *, timeout: float, proc: Child | None = None) -> None:
    """Wait until 127.0.0.1:``port`` accepts a TCP connection."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and not proc.alive():
            raise HarnessError(f"{proc.name} exited with {proc.popen.returncode} before "
                               f"listening on port {port}:\n{proc.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if time.monotonic() > deadline:
            raise HarnessError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s"
                               + (f":\n{proc.log_tail()}" if proc else ""))
        time.sleep(0.05)


def wait_http(url: str, *, timeout: float, proc: Child | None = None,
              headers: Mapping[str, str] | None = None) -> None:
    """Wait until a GET of ``url`` answers 2xx."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if proc is not None and not proc.alive():
            raise HarnessError(f"{proc.name} exited with {proc.popen.returncode} before "
                               f"{url} answered:\n{proc.log_tail()}")
        try:
            req = urllib.request.Request(url, headers=dict(headers or {}))
            with urllib.request.urlopen(req, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise HarnessError(f"{url} not ready after {timeout:.0f} s ({last})"
                               + (f":\n{proc.log_tail()}" if proc else ""))
        time.sleep(0.1)


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: split after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants that are alive now."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(kids.get(current, ()))
    return out


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss_bytes(pid: int) -> int:
    """Sum of the resident set sizes of ``pid`` and its descendants.

    Pages shared between forked workers count once per process (as ``ps`` shows them), so
    this is an upper bound for multi-process servers such as nginx.
    """
    return sum(_rss_bytes(p) for p in process_tree(pid))


def _pss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_pss_bytes(pid: int) -> int:
    """Sum of the proportional set sizes of ``pid`` and its descendants: a page shared by
    k processes counts 1/k in each, so forked workers' shared pages count once in all
    (https://docs.kernel.org/filesystems/proc.html, ``smaps_rollup``). 0 when the kernel
    does not say."""
    return sum(_pss_bytes(p) for p in process_tree(pid))


def largest_rss_bytes(pid: int) -> int:
    """The resident set size of the largest single process of the tree."""
    return max((_rss_bytes(p) for p in process_tree(pid)), default=0)


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so ``with`` blocks stop the children."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    # After the command name: state is fields[0], utime is field 14 of stat -> index 11 here.
    return int(fields[11]) + int(fields[12])


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(_cpu_ticks(p) for p in process_tree(pid)) / ticks
