"""Parts of the benchmark harness that can be checked without a load run: wrk output parsing,
nginx quoting, target verdicts, profile aggregation, and that stopped children really die."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from gwbench import procs, profile, report, upstream, wrk
from gwbench.procs import HarnessError


def test_wrk_output_parsed_from_done_hook_line() -> None:
    line = (wrk.MARKER + '{"requests":1200,"duration_us":2000000,"bytes":999,"p50_us":250,'
            '"p90_us":400,"p99_us":1500,"max_us":9000,"mean_us":300.5,"connect":0,"read":1,'
            '"write":0,"status":3,"timeout":2}')
    res = wrk.parse_output("Running 2s test\n" + line + "\n", connections=16)
    assert res.requests_per_second == 600.0
    assert (res.p50_ms, res.p99_ms) == (0.25, 1.5)
    assert res.errors == 6  # read + status (non-2xx) + timeout
    assert res.to_dict()["errors"] == 6


def test_wrk_output_without_marker_is_an_error() -> None:
    with pytest.raises(HarnessError, match="WRK_JSON"):
        wrk.parse_output("Running 2s test\n  10 requests\n", connections=1)


def test_lua_script_carries_body_and_key(tmp_path: Path) -> None:
    body = wrk.request_body("bench-chat")
    script = wrk.write_script(tmp_path, body=body, api_key="sk-abc").read_text()
    assert body in script
    assert 'wrk.headers["Authorization"] = "Bearer sk-abc"' in script
    assert "done = function(summary, latency, requests)" in script
    no_key = wrk.write_script(tmp_path, body=body, api_key=None, name="nokey").read_text()
    assert "Authorization" not in no_key


def test_wrk_never_gets_more_threads_than_connections(tmp_path: Path) -> None:
    argv = wrk.wrk_argv("http://127.0.0.1:1/x", tmp_path / "s.lua", connections=1,
                        duration=2, threads=4, timeout_s=30)
    assert "-t1" in argv and "-c1" in argv


def test_upstream_bodies_are_openai_shaped() -> None:
    body = json.loads(upstream.chat_completion_body())
    assert body["object"] == "chat.completion"
    assert body["usage"]["total_tokens"] == 30
    events = [e for e in upstream.sse_body().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert chunks[-1]["usage"]["completion_tokens"] == 3 and chunks[-1]["choices"] == []


def test_nginx_quoting_rejects_what_nginx_would_interpret() -> None:
    with pytest.raises(ValueError, match=r"\$"):
        upstream._nginx_string('{"price": "$1"}')


def test_nginx_conf_keeps_every_path_in_the_temp_folder(tmp_path: Path) -> None:
    conf = upstream.write_upstream_conf(tmp_path, 18080).read_text()
    for directive in ("pid ", "error_log ", "client_body_temp_path ", "proxy_temp_path "):
        line = next(ln for ln in conf.splitlines() if ln.strip().startswith(directive))
        assert str(tmp_path) in line, line
    assert "listen 127.0.0.1:18080" in conf
    proxy = upstream.write_proxy_conf(tmp_path, 18081, 18080).read_text()
    assert "server 127.0.0.1:18080;" in proxy and "keepalive " in proxy


def _results(gw64: float, nginx64: float, litellm64: float, gw_p50: float) -> dict:
    def lvl(conns: int, rps: float, p50: float) -> dict:
        return {"connections": conns, "requests_per_second": rps, "p50_ms": p50,
                "p99_ms": p50 * 2, "errors": 0}

    return {"contenders": [
        {"name": "direct", "levels": [lvl(1, 10000, 0.1), lvl(64, 100000, 0.5)],
         "ttfb": {"median_ms": 0.05}},
        {"name": "nginx", "levels": [lvl(1, 9000, 0.12), lvl(64, nginx64, 1.0)]},
        {"name": "gateway", "levels": [lvl(1, 3000, gw_p50), lvl(64, gw64, 5.0)],
         "ttfb": {"median_ms": 0.9}, "rss_after_mb": 80.0},
        {"name": "litellm", "levels": [lvl(1, 80, 12.0), lvl(64, litellm64, 700.0)]},
    ]}


def test_targets_met_and_missed() -> None:
    rows = {name: (measured, verdict) for name, measured, verdict in
            report.targets(_results(16000, 50000, 80, 0.4), soak=None)}
    verdicts = [v for _, v in rows.values()]
    assert verdicts == ["met", "met", "met", "met", "met", "n/a"]
    rows = report.targets(_results(10000, 50000, 250, 0.7), soak={
        "rss_minute1_mb": 100.0, "rss_end_mb": 106.0, "growth_pct": 6.0})
    assert [v for *_, v in rows] == ["MISSED", "MISSED", "MISSED", "met", "met", "MISSED"]
    assert "+0.600 ms" in rows[0][1]
    assert rows[1][1].startswith("20.0%")


def test_added_latency_is_against_direct_at_same_concurrency() -> None:
    results = _results(16000, 50000, 80, 0.4)
    assert report.added(results, "gateway", 1, "p50_ms") == pytest.approx(0.3)
    assert report.added(results, "gateway", 64, "p99_ms") == pytest.approx(9.0)
    assert report.added(results, "gateway", 16, "p50_ms") is None
    assert report.added_ttfb(results, "gateway") == pytest.approx(0.85)


def test_profile_summary_groups_by_library() -> None:
    site = "/v/lib/python3.11/site-packages"
    raw = "\n".join([
        f"process 1:\"python\";run (asyncio/runners.py:118);handle ({site}/uvicorn/h.py:10) 6",
        f"run (asyncio/runners.py:118);send ({site}/httpx/_client.py:5);"
        f"dumps ({site}/orjson/__init__.py:1) 3",
        "run (asyncio/runners.py:118);route (/work/main/gateway/router.py:42) 1",
    ])
    summary = profile.summarize(raw)
    assert summary.total == 10
    assert dict(summary.by_owner) == {"uvicorn": 6, "orjson": 3, "skyrelay": 1}
    assert dict(summary.by_inclusive)["run (asyncio/runners.py)"] == 10
    text = profile.render_summary(summary)
    assert " 60.0%  uvicorn" in text


def test_process_group_stops_children_and_grandchildren(tmp_path: Path) -> None:
    with procs.ProcessGroup() as group:
        child = group.start("sleeper", ["sh", "-c", "sleep 60 & sleep 60 & wait"],
                            log_dir=tmp_path)
        deadline = time.monotonic() + 5
        while len(procs.process_tree(child.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = procs.process_tree(child.pid)
        assert len(tree) == 3
        assert procs.tree_rss_bytes(child.pid) > 0
        # forked shells share their pages: proportional shares sum to less than the RSS sum
        assert 0 < procs.tree_pss_bytes(child.pid) < procs.tree_rss_bytes(child.pid)
        assert 0 < procs.largest_rss_bytes(child.pid) < procs.tree_rss_bytes(child.pid)
    # SIGKILL is delivered asynchronously: give the kernel a moment to end each process.
    deadline = time.monotonic() + 5
    alive = set(tree)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if Path(f"/proc/{pid}").exists() and not _is_zombie(pid)}
        time.sleep(0.02)
    assert not alive


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_wait_http_reports_a_dead_server(tmp_path: Path) -> None:
    with procs.ProcessGroup() as group:
        child = group.start("dies", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
                            log_dir=tmp_path)
        with pytest.raises(HarnessError, match="exited with 3") as err:
            procs.wait_http(f"http://127.0.0.1:{procs.free_port()}/", timeout=10, proc=child)
        assert "boom" in str(err.value)
    assert os.path.exists(tmp_path / "dies.log")
