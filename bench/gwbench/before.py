"""The gateway as it was at an earlier commit, built into its own venv, and a CPU comparison.

Issue 23 rebuilt the request path (front doors, hub, providers) and promised that the chat
path's CPU per request stays within 10 % of before. "Before" must be measured in the same run,
on the same machine and load, so the harness builds the gateway of ``BEFORE_REF`` (the last
commit before that work) from this repository's own history: ``git archive`` of the commit,
installed without its dependencies into ``bench/.before-<sha>`` (git-ignored, once, seconds)
and run on this interpreter's libraries. Same libraries, same spec: only our code differs.

The comparison alternates the two gateways, ``rounds`` times, at each concurrency level: a
busy machine drifts (other processes, CPU frequency), and alternating spreads the drift over
both. The figure is the median of the rounds' ratios.

Example::

    then = ensure_before(BEFORE_REF, Path("bench/.before"))  # then.argv, then.env
    rows = compare_cpu(ctx, rounds=3, duration=5, levels=(1, 16))
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gwbench.procs import HarnessError

REPO = Path(__file__).resolve().parents[2]
#: 9409c83: the last commit before issue 23 (front doors, hub, provider split).
BEFORE_REF = "9409c83"


def resolve(ref: str, repo: Path = REPO) -> str:
    """The full commit id of ``ref`` in ``repo``, or a HarnessError saying why not."""
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", f"{ref}^{{commit}}"],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        hint = " (this clone is shallow: git fetch --unshallow)" if is_shallow(repo) else ""
        raise HarnessError(f"commit {ref!r} is not in {repo}'s history{hint}: "
                           f"{done.stderr.strip()}")
    return done.stdout.strip()


def is_shallow(repo: Path = REPO) -> bool:
    """Whether ``repo`` is a shallow clone (its older history is missing)."""
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--is-shallow-repository"],
                          capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip() == "true"


@dataclass(frozen=True)
class BeforeGateway:
    """How to start the earlier gateway: argv before ``--spec`` and the environment it needs."""

    commit: str
    argv: list[str]
    env: dict[str, str]


def ensure_before(ref: str, root: Path, repo: Path = REPO, *, log: Any = print) -> BeforeGateway:
    """The gateway of ``ref``, installed under ``<root>-<sha12>`` unless already there.

    Only skyrelay itself is installed (``pip --target``, no dependencies, no index): it runs
    on this interpreter's libraries, so the comparison is of our code alone, and nothing is
    fetched from the network.
    """
    sha = resolve(ref, repo)
    target = root.with_name(f"{root.name}-{sha[:12]}")
    marker = target / ".skyrelay-commit"
    if not (marker.exists() and marker.read_text().strip() == sha):
        log(f"installing the gateway of {sha[:12]} into {target} (once)")
        with tempfile.TemporaryDirectory(prefix="gwbefore-") as tmp_s:
            src = Path(tmp_s) / "src"
            src.mkdir()
            archive = Path(tmp_s) / "src.tar"
            _run(["git", "-C", str(repo), "archive", "--format=tar", "-o", str(archive), sha])
            with tarfile.open(archive) as tar:
                tar.extractall(src, filter="data")
            shutil.rmtree(target, ignore_errors=True)
            _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                  "--no-build-isolation", "--disable-pip-version-check", "--target",
                  str(target), str(src)])
        marker.write_text(sha + "\n")
    # -P: the working directory (this repository, with today's skyrelay/) is not on sys.path.
    argv = [sys.executable, "-P", "-c", _CLI, "gateway", "serve"]
    env = {"PYTHONPATH": str(target)}
    _check_imports_from(target, argv[:3], env)
    return BeforeGateway(sha[:12], argv, env)


_CLI = "import sys; from skyrelay.cli import main; sys.argv[0] = 'skyrelay'; main()"


def _check_imports_from(target: Path, python: list[str], env: dict[str, str]) -> None:
    """The earlier gateway must be the one imported, not today's editable install."""
    probe = [*python[:2], "-c", "import skyrelay.gateway as g; print(g.__file__)"]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **env})
    where = done.stdout.strip()
    if done.returncode != 0 or not where.startswith(str(target)):
        raise HarnessError(f"the gateway of {target.name} imports from {where or '?'}: "
                           f"{done.stderr[-1000:]}")


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise HarnessError(f"{' '.join(argv[:4])} … failed: {done.stderr[-2000:]}")


@dataclass(frozen=True)
class CpuRound:
    """One round at one concurrency: CPU µs per request of the gateway now and before."""

    connections: int
    now_us: float
    before_us: float

    @property
    def ratio(self) -> float:
        """now / before (1.05: 5 % more CPU per request than before)."""
        return self.now_us / self.before_us


def summarize(rounds: list[CpuRound]) -> list[dict[str, Any]]:
    """Per concurrency: the rounds' medians and the median of their ratios.

    >>> summarize([CpuRound(1, 110.0, 100.0), CpuRound(1, 90.0, 100.0), CpuRound(1, 120.0, 100.0)])
    [{'connections': 1, 'rounds': 3, 'now_us': 110.0, 'before_us': 100.0, 'ratio': 1.1, \
'ratios': [1.1, 0.9, 1.2]}]
    """
    out = []
    for conns in sorted({r.connections for r in rounds}):
        mine = [r for r in rounds if r.connections == conns]
        out.append({"connections": conns, "rounds": len(mine),
                    "now_us": round(statistics.median(r.now_us for r in mine), 1),
                    "before_us": round(statistics.median(r.before_us for r in mine), 1),
                    "ratio": round(statistics.median(r.ratio for r in mine), 3),
                    "ratios": [round(r.ratio, 3) for r in mine]})
    return out


def compare_cpu(start_gateway: Any, measure: Any, *, rounds: int, levels: tuple[int, ...],
                log: Any = print, pause: float = 1.0,
                names: tuple[str, str] = ("now", "before")) -> list[CpuRound]:
    """Alternate the gateway now and before; ``measure(endpoint, conns)`` gives µs/request.

    ``start_gateway(which)`` starts ``"now"`` or ``"before"`` and returns an endpoint with
    ``stop()``. Both run one at a time, in the order now, before, before, now, … so neither
    always goes first. ``names`` are what the log calls the two.
    """
    found: list[CpuRound] = []
    for index in range(rounds):
        order = ("now", "before") if index % 2 == 0 else ("before", "now")
        figures: dict[str, dict[int, float]] = {}
        for which in order:
            ep = start_gateway(which)
            try:
                figures[which] = {}
                for conns in levels:
                    time.sleep(pause)
                    figures[which][conns] = measure(ep, conns)
            finally:
                ep.stop()
        for conns in levels:
            row = CpuRound(conns, figures["now"][conns], figures["before"][conns])
            found.append(row)
            log(f"  round {index + 1} c={conns:<4d} {names[0]} {row.now_us:8.1f} µs/req  "
                f"{names[1]} {row.before_us:8.1f} µs/req  ratio {row.ratio:.3f}")
    return found
