"""Load the benchmark harness (bench/gwbench) by path: bench/ is not an installed package,
and only the package itself is registered, so the repository root stays off sys.path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def _load_gwbench() -> None:
    if "gwbench" in sys.modules:
        return
    pkg_dir = BENCH_DIR / "gwbench"
    spec = importlib.util.spec_from_file_location(
        "gwbench", pkg_dir / "__init__.py", submodule_search_locations=[str(pkg_dir)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gwbench"] = module
    spec.loader.exec_module(module)


_load_gwbench()
