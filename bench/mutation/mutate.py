"""``make mutate``: mutation testing of the core modules with mutmut, one module at a time.

mutmut 3 copies the code into ``mutants/``, puts that folder first on ``sys.path`` and names
each mutant after the file's path (``a/b.py`` -> module ``a.b``). This repository maps root
folder X to the package ``skyrelay.X`` (``[tool.setuptools] package-dir``), so the file
``gateway/router/access.py`` is the module ``skyrelay.gateway.router.access``: run from the
checkout, mutmut would name the mutants ``gateway.router.access...``, the tests would import
the unmutated code through the editable install, and no mutant would ever be switched on.

So each module runs in its own staging folder ``build/mutation/<slug>/`` laid out like the
installed package: ``skyrelay/`` with every mapped folder under its package path (read from
``package-dir``), plus ``tests/`` and ``examples/``. There, file path and module name agree,
``mutants/skyrelay`` shadows the editable install (setuptools appends its finder to
``sys.meta_path``, after the path finder), and the repository root is still never on
``sys.path``. Each module is tested only by the fast tests listed for it in ``MODULES``,
under a time limit, with at most two worker processes.

Mutants that no test can kill because they do not change behaviour are listed in
``bench/mutation/equivalent.toml`` (module, function, the mutated line, the reason); they are
left out of the score and listed in the report.

Example::

    .venv/bin/python bench/mutation/mutate.py                 # every module
    .venv/bin/python bench/mutation/mutate.py access strategies --max-children 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGING = ROOT / "build" / "mutation"
RESULTS = ROOT / "bench" / "results" / "mutation.md"
EQUIVALENT_FILE = Path(__file__).with_name("equivalent.toml")
MUTMUT = Path(sys.executable).with_name("mutmut")
#: pytest plugins (entry points) that none of the mapped fast tests needs.
UNUSED_PLUGINS = ("schemathesis", "syrupy", "typeguard", "anyio", "platformdirs")
#: Folders the tests read by path besides the package (specs, fixtures).
ALSO_COPY = ("examples", "tests", "docs")


@dataclass(frozen=True)
class Module:
    """One core module and the fast tests that exercise it (paths relative to the repo)."""

    slug: str
    path: str
    tests: tuple[str, ...]
    #: Extra pytest arguments for the test selection (``-k``/``-m`` filters).
    select: tuple[str, ...] = ()
    timeout: int = 420


ROUTER_TESTS = ("tests/gateway/router",)
MODULES: tuple[Module, ...] = (
    Module("access", "gateway/router/access.py", ROUTER_TESTS),
    Module("regions", "skyrelay/regions.py",
           ("tests/skyrelay/views/test_views.py", "tests/skyrelay/test_regions.py")),
    Module("strategies", "gateway/router/strategies.py", ROUTER_TESTS),
    Module("breaker", "gateway/router/breaker.py", ROUTER_TESTS),
    Module("tenancy-state", "gateway/tenancy/state.py",
           ("tests/gateway/tenancy/test_tenancy_state.py",
            "tests/gateway/tenancy/test_state_rules.py")),
    Module("bedrock-arns", "skyrelay/views/bedrock_arns.py",
           ("tests/skyrelay/views",)),
    Module("gateway-config", "skyrelay/views/gateway_config.py",
           ("tests/skyrelay/views",)),
    # Which targets each gateway region can call: the per-region configs and IAM follow it.
    Module("reachability", "skyrelay/views/reachability.py",
           ("tests/skyrelay/views",)),
    # Only the policy tests that need no synthesized templates: mutmut re-runs a selected
    # test per mutant, and a session fixture that synthesizes costs 20 s each time.
    Module("gateway-rules", "policies/gateway_rules.py",
           ("tests/policies/test_policies_check.py::test_gateway_rule_names_tenant_and_route",
            "tests/policies/test_gateway_rules.py")),
    Module("aws-templates", "policies/aws_templates.py",
           ("tests/policies/test_policies_aws.py", "tests/policies/test_aws_templates.py",
            "tests/policies/test_aws_network_paths.py",
            "tests/stacks/test_aws_cross_region.py::test_the_listener_rules_on_hand_made_templates"),
           select=("-k", "not default")),
    Module("azure-graph", "policies/azure_graph.py",
           ("tests/policies/test_policies_azure.py", "tests/policies/test_azure_graph.py"),
           select=("-k", "not default_spec_graph and not offline_graph and not default_plan")),
    # The two largest last: a run cut short by its budget loses the fewest modules.
    # The provider tests run real servers (seconds per test); the translation is pure.
    Module("bedrock-translate", "gateway/providers/bedrock_translate.py",
           ("tests/gateway/providers/test_bedrock_provider.py::test_translation_rules",
            "tests/gateway/providers/test_bedrock_translate.py",
            "tests/gateway/hub/test_field_decisions.py"), timeout=900),
    Module("gateway-checks", "skyrelay/spec/gateway_checks.py",
           ("tests/skyrelay/spec/test_gateway_tls.py",
            "tests/skyrelay/spec/test_gateway_checks.py",
            "tests/skyrelay/views/test_regional_routing.py",
            "tests/skyrelay/spec/test_check_messages.py")),
    Module("spec-checks", "skyrelay/spec/checks.py",
           ("tests/skyrelay/spec/test_checks.py", "tests/skyrelay/spec/test_check_messages.py",
            "tests/skyrelay/spec/test_spec_errors.py"), timeout=900),
)


#: The kinds of reviewed mutant ``equivalent.toml`` may list: ``equivalent`` changes no
#: behaviour at all; ``unobservable`` changes only a tuning value (a timeout, a pool size)
#: that no test could tell from its neighbour without asserting or waiting on the clock.
KINDS = ("equivalent", "unobservable")


@dataclass
class Equivalent:
    """A reviewed mutant left out of the score, matched by function and mutated line."""

    module: str
    function: str
    line: str
    reason: str
    kind: str = "equivalent"
    used: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{EQUIVALENT_FILE.name}: kind {self.kind!r} of {self.function} "
                             f"is none of {', '.join(KINDS)}")


def package_map() -> dict[str, str]:
    """``{repo folder: package path}`` from ``package-dir``: ``gateway`` -> ``skyrelay/gateway``."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = data["tool"]["setuptools"]["package-dir"]
    return {folder: package.replace(".", "/") for package, folder in mapping.items()}


def package_path(repo_path: str) -> str:
    """The path of a repo file inside the staged package tree."""
    for folder, package in sorted(package_map().items(), key=lambda kv: -len(kv[0])):
        if repo_path.startswith(folder + "/"):
            return package + repo_path[len(folder):]
    raise ValueError(f"{repo_path} is in no folder of [tool.setuptools] package-dir")


def stage(module: Module) -> Path:
    """A fresh staging folder for ``module``: the package tree, tests, examples, config."""
    where = STAGING / module.slug
    shutil.rmtree(where, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", "node_modules")
    # Deepest package first is irrelevant for copying; the root package must exist first.
    for folder, package in sorted(package_map().items(), key=lambda kv: kv[1].count("/")):
        shutil.copytree(ROOT / folder, where / package, ignore=ignore, dirs_exist_ok=True)
    for name in ALSO_COPY:
        shutil.copytree(ROOT / name, where / name, ignore=ignore)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tests = [t for t in module.tests if (ROOT / t.partition("::")[0]).exists()]
    if not tests:
        raise SystemExit(f"{module.slug}: none of its tests exist: {module.tests}")
    (where / "pyproject.toml").write_text(_toml({
        "tool.mutmut": {
            "source_paths": ["skyrelay"],
            "only_mutate": [package_path(module.path)],
            "pytest_add_cli_args_test_selection": [*tests, *module.select],
            "also_copy": [name for name in ALSO_COPY if name != "tests"],
            # Each mutant starts a pytest session: leave out the plugins no mapped test uses.
            "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "no:randomly", *[
                arg for name in UNUSED_PLUGINS for arg in ("-p", f"no:{name}")]],
            "use_git_change_detection": False,
        },
        "tool.pytest.ini_options": config["tool"]["pytest"]["ini_options"],
    }))
    return where


def _toml(tables: dict[str, dict[str, object]]) -> str:
    out = []
    for name, values in tables.items():
        out.append(f"[{name}]")
        out += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        out.append("")
    return "\n".join(out)


def load_equivalents() -> list[Equivalent]:
    """The reviewed equivalent mutants (``equivalent.toml``)."""
    if not EQUIVALENT_FILE.exists():
        return []
    data = tomllib.loads(EQUIVALENT_FILE.read_text())
    return [Equivalent(**entry) for entry in data.get("mutant", [])]


def _changed_line(diff: str) -> str:
    """The first added line of a mutant's diff, stripped (what the mutation wrote)."""
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            return line[1:].strip()
    return ""


def _function_of(name: str) -> str:
    """``skyrelay.regions.x_satisfies__mutmut_3`` -> ``satisfies``; methods ``Class.method``."""
    mangled = name.rpartition(".")[2].partition("__mutmut_")[0]
    if mangled.startswith("x_"):
        return mangled[2:]
    _, cls, method = mangled.split("ǁ")
    return f"{cls}.{method}"


@dataclass
class Score:
    """Outcome of one module's run."""

    module: Module
    counts: dict[str, int]
    survivors: list[tuple[str, str]]  # (mutant name, mutated line)
    equivalent: list[tuple[str, Equivalent]]
    seconds: float
    finished: bool

    def reviewed(self, kind: str) -> int:
        """How many of the module's reviewed mutants are of ``kind``."""
        return sum(1 for _, e in self.equivalent if e.kind == kind)

    @property
    def killed(self) -> int:
        return self.counts.get("killed", 0) + self.counts.get("timeout", 0)

    @property
    def scored(self) -> int:
        return sum(self.counts.values()) - len(self.equivalent)

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.scored if self.scored else 0.0


def run_module(module: Module, max_children: int, equivalents: list[Equivalent],
               limit: float | None = None) -> Score:
    """Stage, run mutmut under ``timeout`` (the module's, or ``limit`` if sooner), read its
    verdicts; mutants not reached in time count as not killed."""
    where = stage(module)
    # Derandomized Hypothesis (tests/conftest.py): every mutant meets the same examples.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "HYPOTHESIS_PROFILE": "mutation"}
    start = time.monotonic()
    with (where / "mutmut.log").open("w") as log:
        proc = subprocess.run(
            ["timeout", str(int(min(module.timeout, limit or module.timeout))), str(MUTMUT),
             "run", "--max-children",
             str(max_children)], cwd=where, env=env, stdout=log, stderr=subprocess.STDOUT,
            check=False)
    seconds = time.monotonic() - start
    (where / "run.json").write_text(json.dumps({"seconds": seconds,
                                                "finished": proc.returncode == 0}))
    return score_module(module, equivalents)


def score_module(module: Module, equivalents: list[Equivalent]) -> Score:
    """Score a module from its staging folder's mutmut verdicts (``run_module`` ran it)."""
    where = STAGING / module.slug
    run = json.loads((where / "run.json").read_text())
    seconds, finished = run["seconds"], run["finished"]
    meta = where / "mutants" / (package_path(module.path) + ".meta")
    if not meta.exists():
        raise SystemExit(f"{module.slug}: mutmut wrote no results; see {where / 'mutmut.log'}")
    verdicts = json.loads(meta.read_text())["exit_code_by_key"]
    if all(code is None for code in verdicts.values()):
        raise SystemExit(f"{module.slug}: no mutant was tested (the unmutated tests must pass); "
                         f"see {where / 'mutmut.log'}")
    from mutmut.stats import status_by_exit_code

    counts: dict[str, int] = {}
    survivors: list[tuple[str, str]] = []
    equivalent: list[tuple[str, Equivalent]] = []
    alive = [n for n, c in verdicts.items() if status_by_exit_code[c] in ("survived", "no tests")]
    diffs = _diffs(where, package_path(module.path), alive)
    for name, code in sorted(verdicts.items(), key=lambda kv: _natural(kv[0])):
        status = status_by_exit_code[code]
        if status in ("survived", "no tests"):
            line = _changed_line(diffs[name])
            match = next((e for e in equivalents if e.module == module.path
                          and e.function == _function_of(name) and e.line == line), None)
            if match is not None:
                match.used = True
                equivalent.append((name, match))
            else:
                survivors.append((name, line))
        counts[status] = counts.get(status, 0) + 1
    return Score(module, counts, survivors, equivalent, seconds, finished)


def _natural(name: str) -> tuple[str, int]:
    head, _, number = name.rpartition("__mutmut_")
    return head, int(number) if number.isdigit() else 0


_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
names = json.load(sys.stdin)
print(json.dumps({n: get_diff_for_mutant(n, path=sys.argv[1]) for n in names}))
"""


def _diffs(where: Path, path: str, names: list[str]) -> dict[str, str]:
    """``mutmut show`` for many mutants in one process: their diffs by name."""
    out = subprocess.run([sys.executable, "-c", _DIFFS, path], cwd=where, input=json.dumps(names),
                         capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def report(scores: list[Score], total_seconds: float, command: str,
           rescored: bool = False) -> str:
    """The Markdown report: a score per module, then survivors and equivalents."""
    lines = [
        "# Mutation testing of the core modules",
        "",
        f"`{command}` (mutmut, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); wall "
        f"time {total_seconds / 60:.1f} min on this machine. Score = killed / (mutants - "
        "the reviewed equivalent and unobservable ones); a timeout counts as killed. Each "
        "module is tested only by the fast tests listed for it in `bench/mutation/mutate.py`."
        + (" Re-scored from the last run's verdicts after reviewing `equivalent.toml`; the "
           "time is the sum of the modules' mutmut runs." if rescored else ""),
        "",
        "| module | mutants | killed | survived | equivalent | unobservable | score | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scores:
        mark = "" if s.finished else " (time limit hit)"
        lines.append(
            f"| `{s.module.path}` | {sum(s.counts.values())} | {s.killed} | "
            f"{len(s.survivors)} | {s.reviewed('equivalent')} | {s.reviewed('unobservable')} | "
            f"{s.percent:.1f} %{mark} | "
            f"{s.seconds:.0f} |")
    lines += ["", "## Surviving mutants", ""]
    survivors = [(s, name, line) for s in scores for name, line in s.survivors]
    if not survivors:
        lines.append("None.")
    for _, name, line in survivors:
        lines.append(f"- `{name}`: `{line}`")
    titles = {"equivalent": "Equivalent mutants (reviewed; not scored)",
              "unobservable": "Tuning values no test can tell apart without the clock "
                              "(reviewed, not equivalent; not scored)"}
    for kind in KINDS:
        lines += ["", f"## {titles[kind]}", ""]
        listed = [(name, e) for s in scores for name, e in s.equivalent if e.kind == kind]
        if not listed:
            lines.append("None.")
        for name, e in listed:
            lines.append(f"- `{name}` (`{e.function}`: `{e.line}`): {e.reason}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the chosen modules (all by default); write ``bench/results/mutation.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="slugs (default: all): "
                        + ", ".join(m.slug for m in MODULES))
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--min-score", type=float, default=85.0,
                        help="exit 1 when a module scores lower (default 85)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true",
                        help="re-score the last run's verdicts (after reviewing "
                             "equivalent.toml) without running mutmut again")
    parser.add_argument("--budget", type=float, default=1740.0,
                        help="seconds for the whole run (default 29 min); later modules are "
                             "cut short or skipped")
    args = parser.parse_args(argv)
    chosen = [m for m in MODULES if not args.modules or m.slug in args.modules]
    unknown = set(args.modules) - {m.slug for m in MODULES}
    if unknown:
        parser.error(f"unknown modules {sorted(unknown)}")
    equivalents = load_equivalents()
    start = time.monotonic()
    scores = []
    command = "make mutate" + (f" MUTATE_ARGS='{' '.join(argv or sys.argv[1:])}'"
                               if (argv or sys.argv[1:]) else "")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        scores = [score_module(m, equivalents) for m in chosen
                  if (STAGING / m.slug / "run.json").exists()]
        total = sum(s.seconds for s in scores)
        args.output.write_text(report(scores, total, command, rescored=True))
        chosen = [s.module for s in scores] if scores else chosen
    for module in [] if args.report_only else chosen:
        left = args.budget - (time.monotonic() - start)
        if left < 30:
            print(f"{module.path}: not run, the {args.budget:.0f} s budget is spent", flush=True)
            continue
        score = run_module(module, args.max_children, equivalents, limit=left)
        print(f"{module.path}: {score.percent:.1f} % of {score.scored} "
              f"({len(score.survivors)} survived, {len(score.equivalent)} equivalent) "
              f"in {score.seconds:.0f} s", flush=True)
        scores.append(score)
        # Written after every module, so a run cut short still leaves its scores.
        args.output.write_text(report(scores, time.monotonic() - start, command))
    stale = [e for e in equivalents if not e.used
             and any(m.path == e.module for m in chosen)]
    for e in stale:
        print(f"warning: equivalent entry matched no mutant: {e.module} {e.function}: {e.line}")
    low = [s for s in scores if s.percent < args.min_score or not s.finished]
    return 1 if low or len(scores) < len(chosen) else 0


if __name__ == "__main__":
    sys.exit(main())
