"""Profile a contender under load with py-spy, and say where its CPU time goes.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;...;leaf count``). The
summary groups samples three ways: by the library that owns the leaf frame (where the CPU is
actually spent: the event loop, the HTTP server, the HTTP client, JSON, the gateway's own
code), by leaf function (self time), and by function anywhere on the stack (inclusive time).

Example::

    summary = summarize(Path("gateway.raw").read_text())
    print(render_summary(summary, top=20))
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gwbench.procs import HarnessError

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True)
class ProfileSummary:
    """Sample counts: total, by owner (library), by leaf function, by inclusive function."""

    total: int
    by_owner: list[tuple[str, int]]
    by_self: list[tuple[str, int]]
    by_inclusive: list[tuple[str, int]]


def owner(path: str) -> str:
    """The library a source file belongs to, e.g. ``uvicorn``, ``asyncio``, ``skyrelay``."""
    path = path.replace("\\", "/")
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            return rest.split("/", 1)[0].removesuffix(".py")
    if "/gateway/" in path or path.startswith("gateway/") or "skyrelay" in path:
        return "skyrelay"
    match = re.search(r"python3\.\d+/(?P<mod>[^/]+)", path)
    if match:
        return "stdlib:" + match.group("mod").removesuffix(".py")
    head = path.split("/", 1)[0]
    return head.removesuffix(".py") or "?"


def _label(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip(), "?"
    file = match.group("file")
    short = "/".join(file.split("/")[-2:])
    return f"{match.group('func')} ({short})", owner(file)


def summarize(raw: str) -> ProfileSummary:
    """Aggregate py-spy's raw collapsed stacks."""
    owners: Counter[str] = Counter()
    selfs: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        stack, _, count_s = line.rpartition(" ")
        try:
            count = int(count_s)
        except ValueError:
            continue
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        leaf, leaf_owner = _label(frames[-1])
        owners[leaf_owner] += count
        selfs[leaf] += count
        for name in {_label(f)[0] for f in frames}:
            inclusive[name] += count
    return ProfileSummary(total, owners.most_common(), selfs.most_common(),
                          inclusive.most_common())


def render_summary(summary: ProfileSummary, *, top: int = 25, title: str = "") -> str:
    """Plain-text report with percentages of all samples."""
    def pct(count: int) -> str:
        return f"{100 * count / summary.total:5.1f}%" if summary.total else "  n/a"

    lines = [title or "py-spy profile", f"samples: {summary.total}", "",
             "by library owning the running frame (self time):"]
    lines += [f"  {pct(c)}  {name}" for name, c in summary.by_owner[:top]]
    lines += ["", "by function (self time):"]
    lines += [f"  {pct(c)}  {name}" for name, c in summary.by_self[:top]]
    lines += ["", "by function anywhere on the stack (inclusive time):"]
    lines += [f"  {pct(c)}  {name}" for name, c in summary.by_inclusive[:top]]
    return "\n".join(lines) + "\n"


def py_spy() -> str:
    """The py-spy executable (project venv or PATH)."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise HarnessError("py-spy not found: pip install -e '.[bench]'")
    return found


def start_record(pid: int, out: Path, seconds: float, *, rate: int = 200,
                 subprocesses: bool = True) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` for ``seconds`` into ``out`` (raw collapsed stacks)."""
    argv = [py_spy(), "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate),
            "--duration", str(max(1, int(seconds))), "--nonblocking", "--full-filenames",
            "-o", str(out)]
    if subprocesses:
        argv.append("--subprocesses")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish_record(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait for py-spy to write its output; raise if it failed."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise HarnessError("py-spy did not finish") from None
    if proc.returncode != 0:
        raise HarnessError(f"py-spy failed: {err.decode(errors='replace')[-1500:]}")
