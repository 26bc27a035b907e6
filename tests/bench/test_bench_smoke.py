"""A quick smoke run of the benchmark harness: the real harness, tiny durations.

It runs ``bench/gateway_bench.py`` as ``make bench`` does, with 1 s per level at concurrency
1 and 16, for the direct baseline, the nginx ``proxy_pass`` floor and the skyrelay gateway,
against the real nginx upstream and the real wrk (Debian packages, see tools/system-packages.txt).

LiteLLM is left out on purpose: the harness installs it into its own virtual environment,
which takes about a minute and a few hundred MB; ``make bench`` covers it. No figure is
asserted (speed is judged in bench/results/, never in tests); the test asserts the harness
produces the table with the expected rows, the JSON, the plot, and zero errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gwbench import before

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gateway_bench.py"
CONTENDERS = ("direct", "nginx", "gateway")
LEVELS = (1, 16)


def test_harness_smoke_run_writes_table_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "results"
    argv = [sys.executable, str(BENCH), "--duration", "1", "--levels", "1,16",
            "--contenders", ",".join(CONTENDERS), "--warmup", "0", "--ttfb-iterations", "20",
            "--cpu-rounds", "1", "--out", str(out), "--keep-logs", str(tmp_path / "logs")]
    env = {**os.environ, "GWBENCH_COMMAND": "pytest smoke run"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, env=env,
                          cwd=tmp_path, check=False)
    logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                     for p in sorted((tmp_path / "logs").glob("*.log")))
    assert done.returncode == 0, done.stdout + done.stderr + logs

    results = json.loads((out / "gateway.json").read_text())
    names = [c["name"] for c in results["contenders"]]
    assert names == list(CONTENDERS)
    for entry in results["contenders"]:
        assert entry["error"] is None, entry
        assert [lvl["connections"] for lvl in entry["levels"]] == list(LEVELS)
        for lvl in entry["levels"]:
            assert lvl["requests"] > 0, (entry["name"], lvl)
            assert lvl["errors"] == 0, (entry["name"], lvl)
        assert entry["ttfb"]["status"] == 200
        assert entry["ttfb"]["content_type"].startswith("text/event-stream")
        if entry["name"] != "direct":
            assert entry["rss_after_mb"] > 0

    table = (out / "gateway.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    labels = {"direct": "direct (no proxy)", "nginx": "nginx proxy_pass",
              "gateway": "skyrelay gateway"}
    for name in CONTENDERS:
        for conns in LEVELS:
            assert any(r.startswith(f"| {labels[name]} | {conns} |") for r in rows), (name, conns)
    assert "`pytest smoke run`" in table
    # The gateway against the one of before issue 23, built from history in the same run.
    versus = results["cpu_vs_before"]
    if versus["error"] is None:
        assert [lvl["connections"] for lvl in versus["levels"]] == list(LEVELS)
        assert all(lvl["now_us"] > 0 and lvl["before_us"] > 0 for lvl in versus["levels"])
        assert f"## CPU per request against {versus['ref']}" in table
    else:  # only a shallow clone lacks the commit, and then the report says so
        assert before.is_shallow() and "shallow" in versus["error"]
    assert "| added median latency at concurrency 1 ≤ 0.5 ms |" in table
    assert (out / "gateway.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob("*.tmp*"))
