"""A quick smoke run of the benchmark harness: the real harness, tiny durations.

It runs ``bench/gateway_bench.py`` as ``make bench`` does, with 1 s per level at concurrency
1 and 16, for the direct baseline, the nginx ``proxy_pass`` floor, the skyrelay gateway and the
traced gateway (spans to the harness's loopback receiver), plus the two-worker gateway when
``skyrelay gateway serve --help`` lists ``--workers`` (with the harness's loopback Redis), and
Portkey when ``bench/.portkey`` already holds the pinned install (no npm, no network), against
the real nginx upstream and the real wrk (Debian packages, see tools/system-packages.txt).

LiteLLM is left out on purpose: the harness installs it into its own virtual environment,
which takes about a minute and a few hundred MB; ``make bench`` covers it, and Portkey's
first install too. No figure is asserted (speed is judged in bench/results/, never in tests);
the test asserts the harness produces the tables with the expected rows, the JSON, the plot,
zero errors, the 1,000-chunk long stream through every contender, and that every request
reached the loopback upstream.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from gwbench import before, portkey, skyrelay_gw

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gateway_bench.py"
LEVELS = (1, 16)


def _contenders() -> tuple[str, ...]:
    names = ["direct", "nginx", "gateway", "gateway-traced"]
    if skyrelay_gw.supports_workers([skyrelay_gw.skyrelay_cli(), "gateway", "serve"]):
        names += ["gateway-2w", "gateway-redis"]
    if portkey.is_current(portkey.INSTALL_DIR):
        names.append("portkey")
    return tuple(names)


CONTENDERS = _contenders()
DEFAULT_METRICS_PORT = 9464


@contextlib.contextmanager
def _port_taken(port: int) -> Iterator[None]:
    """Hold ``port`` on loopback, as a gateway already running on the machine would."""
    with socket.socket() as sock:
        with contextlib.suppress(OSError):  # already held by someone else: the same case
            sock.bind(("127.0.0.1", port))
            sock.listen()
        yield


def test_harness_smoke_run_writes_table_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "results"
    argv = [sys.executable, str(BENCH), "--duration", "1", "--levels", "1,16",
            "--contenders", ",".join(CONTENDERS), "--warmup", "0", "--ttfb-iterations", "20",
            "--long-iterations", "3",
            "--cpu-rounds", "1", "--out", str(out), "--keep-logs", str(tmp_path / "logs")]
    env = {**os.environ, "GWBENCH_COMMAND": "pytest smoke run"}
    with _port_taken(DEFAULT_METRICS_PORT):  # the gateways' default metrics port is busy
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
        assert entry["long_stream"]["chunks"] == 1000, entry["name"]
        seen = entry["upstream"]
        assert seen["upstream_requests"] >= seen["client_requests"] > 0, (entry["name"], seen)
        if entry["name"] != "direct":
            assert entry["rss_after_mb"] > 0
            assert all(lvl["cpu_cores"]["proxy"] > 0 for lvl in entry["levels"])
    by_name = {c["name"]: c for c in results["contenders"]}
    assert by_name["gateway"]["workers"] == 1
    traced = by_name["gateway-traced"]
    assert traced["traces"]["spans"] >= traced["upstream"]["client_requests"]
    assert traced["traces"]["rejected"] == 0
    for name in ("gateway-2w", "gateway-redis"):
        if name in by_name:
            assert by_name[name]["shared_state"].startswith("redis")
            assert all("redis" in lvl["cpu_cores"] for lvl in by_name[name]["levels"])
    if "gateway-2w" in by_name:
        assert by_name["gateway-2w"]["workers"] == 2

    table = (out / "gateway.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    labels = {"direct": "direct (no proxy)", "nginx": "nginx proxy_pass",
              "gateway": "skyrelay gateway", "gateway-traced": "skyrelay gateway, traced",
              "gateway-2w": "skyrelay gateway, 2 workers",
              "gateway-redis": "skyrelay gateway, Redis state",
              "portkey": f"Portkey {portkey.PORTKEY_VERSION}"}
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
    assert "## Long stream (1,000 chunks)" in table
    assert "| long stream added ≤ 20 µs per chunk (vs nginx) |" in table
    assert "## Tracing cost" in table and "## Targets of issue 24 (skyrelay gateway)" in table
    # traced and untraced alternated at the highest level, as the target's figure
    (alternated,) = results["tracing_ab"]["levels"]
    assert alternated["connections"] == max(LEVELS) and alternated["rounds"] == 1
    assert alternated["now_us"] > 0 and alternated["before_us"] > 0
    assert "alternated round by round" in table
    assert (out / "gateway.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob("*.tmp*"))
