"""Issue 24's parts of the benchmark harness, without a load run: the issue-24 targets and
sections of the report, the long stream's timing and checks (against real servers on
loopback), Portkey's pinned install and request headers, the gateway's worker arguments, the
span counter, the upstream's request counter and the Redis config."""

from __future__ import annotations

import json
import os
import socket
import stat
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gwbench import longstream, otlp, portkey, procs, redis, report24, skyrelay_gw, ttfb, upstream
from gwbench import wrk as wrk_mod
from gwbench.endpoint import Context
from gwbench.procs import HarnessError

# --- the report ----------------------------------------------------------------------------


def _lvl(conns: int, rps: float, p50: float, cpu: float | None = None) -> dict:
    out = {"connections": conns, "requests_per_second": rps, "p50_ms": p50, "p99_ms": p50 * 2,
           "errors": 0}
    if cpu is not None:
        out["cpu_us_per_request"] = cpu
        out["cpu_cores"] = {"proxy": 1.1, "upstream": 0.4, "wrk": 0.3}
    return out


def _entry(name: str, levels: list[dict], **extra: object) -> dict:
    return {"name": name, "label": name, "levels": levels, "error": None, **extra}


def _results(*, gw64: float = 20000, gw_cpu: float = 140, traced_cpu: float = 160,
             two64: float = 36000, gw_long: float = 20.0, gw_p50: float = 0.25) -> dict:
    return {"meta": {"machine": {"cpus": 2, "cpus_usable": 2}, "nginx_workers": 2},
            "contenders": [
        _entry("direct", [_lvl(1, 10000, 0.1), _lvl(64, 90000, 0.6)],
               ttfb={"median_ms": 0.05}, long_stream={"median_ms": 1.0, "min_ms": 1.0,
                                                      "chunks": 1000, "iterations": 5}),
        _entry("nginx", [_lvl(1, 9000, 0.12, 9), _lvl(64, 50000, 1.0, 8)],
               long_stream={"median_ms": 2.0, "min_ms": 1.9, "chunks": 1000, "iterations": 5}),
        _entry("gateway", [_lvl(1, 3000, 0.1 + gw_p50, 300), _lvl(64, gw64, 3.0, gw_cpu)],
               ttfb={"median_ms": 0.4}, rss_after_mb=80.0, workers=1,
               long_stream={"median_ms": gw_long, "min_ms": gw_long, "chunks": 1000,
                            "iterations": 5}, upstream={"client_requests": 100,
                                                        "upstream_requests": 103}),
        _entry("litellm", [_lvl(64, 150, 400.0, 9000)]),
        _entry("portkey", [_lvl(64, 3000, 20.0, 600)]),
        _entry("gateway-2w", [_lvl(64, two64, 2.0, 150)], rss_after_mb=190.0, workers=2,
               shared_state="redis"),
        _entry("gateway-redis", [_lvl(64, 12000, 4.0, 200)], workers=1, shared_state="redis"),
        _entry("gateway-traced", [_lvl(1, 2500, 0.5, 330), _lvl(64, 18000, 3.5, traced_cpu)],
               traces={"spans": 400}, upstream={"client_requests": 200,
                                                "upstream_requests": 190}),
    ]}


def test_issue24_targets_met() -> None:
    rows = report24.targets24(_results())
    assert [v for *_, v in rows] == ["met"] * 9
    measured = {name: m for name, m, _ in rows}
    assert measured["long stream added ≤ 20 µs per chunk (vs nginx)"] == "18.00 µs"
    assert measured["req/s at concurrency 64 ≥ 5× Portkey"].startswith("6.7×")
    assert "gateway-2w: 95.0 MB" in measured["RSS after the run ≤ 100 MB per worker"]
    assert measured["tracing on costs ≤ +20 % CPU per request (c=64)"].startswith("+14.3 %")


def test_issue24_targets_missed_one_by_one() -> None:
    rows = report24.targets24(_results(gw64=10000, gw_cpu=200, traced_cpu=260, two64=15000,
                                       gw_long=23.0, gw_p50=0.4))
    verdicts = dict((name, v) for name, _, v in rows)
    assert verdicts["CPU per request at concurrency 64 ≤ 150 µs"] == "MISSED"
    assert verdicts["req/s at concurrency 64 ≥ 5× Portkey"] == "MISSED"  # 3.3×
    assert verdicts["req/s at concurrency 64 ≥ 100× LiteLLM"] == "MISSED"  # 66.7×
    assert verdicts["req/s at concurrency 64, 2 workers ≥ 1.7× 1 worker"] == "MISSED"  # 1.5×
    assert report24.workers_ratio(_results(gw64=10000, two64=15000)) == pytest.approx(1.5)
    assert verdicts["added p50 at concurrency 1 ≤ 0.3 ms"] == "MISSED"
    assert verdicts["tracing on costs ≤ +20 % CPU per request (c=64)"] == "MISSED"  # +30 %
    assert verdicts["long stream added ≤ 20 µs per chunk (vs nginx)"] == "MISSED"  # 21 µs
    assert verdicts["stream TTFB added ≤ 0.5 ms"] == "met"  # +0.35 ms


def test_the_alternated_tracing_comparison_decides_the_target() -> None:
    # the two contenders' own runs say +30 %; the alternated rounds say +10 %: they win
    results = _results(gw_cpu=200, traced_cpu=260)
    results["tracing_ab"] = {"error": None, "levels": [
        {"connections": 64, "rounds": 3, "now_us": 220.0, "before_us": 200.0, "ratio": 1.1,
         "ratios": [1.08, 1.1, 1.12]}]}
    assert report24.tracing_ratio(results) == pytest.approx(1.1)
    rows = {name: (m, v) for name, m, v in report24.targets24(results)}
    measured, verdict = rows["tracing on costs ≤ +20 % CPU per request (c=64)"]
    assert verdict == "met" and measured == "+10.0 % (220.0 vs 200.0 µs alternated)"
    text = "\n".join(report24.render_tracing(results))
    assert "| 64 | 3 | 200.0 | 220.0 | 1.080, 1.100, 1.120 | 1.100 |" in text
    assert "+10.0 % (target ≤ +20 %)" in text
    # an alternated run that failed says so, and the contenders' own runs decide
    results["tracing_ab"] = {"error": "gateway-traced: 0 requests, 5 errors", "levels": []}
    assert report24.tracing_ratio(results) == pytest.approx(1.3)
    assert "The alternated comparison failed: gateway-traced: 0 requests" in "\n".join(
        report24.render_tracing(results))


def test_targets_without_the_contenders_are_not_applicable() -> None:
    results = _results()
    results["contenders"] = [e for e in results["contenders"]
                             if e["name"] in ("direct", "gateway")]
    verdicts = {name: v for name, _, v in report24.targets24(results)}
    for name in ("req/s at concurrency 64 ≥ 5× Portkey",
                 "req/s at concurrency 64, 2 workers ≥ 1.7× 1 worker",
                 "tracing on costs ≤ +20 % CPU per request (c=64)",
                 "long stream added ≤ 20 µs per chunk (vs nginx)"):
        assert verdicts[name] == "n/a", name


def test_sections_report_ratios_cores_and_upstream_counts() -> None:
    text = "\n".join(report24.render_issue24(_results()))
    assert "2 workers ÷ 1 worker: 1.80×" in text
    assert ("| gateway-2w | 2 | Redis | 36,000 | 150.0 | proxy 1.10, upstream 0.40, wrk 0.30 |"
            in text)
    assert "| gateway | 1 | in process | 20,000 | 140.0 |" in text
    assert "same Redis state (`gateway-redis`): 3.00×" in text
    assert "| 64 | 140.0 | 160.0 | 1.143 |" in text
    assert "Spans received: 400 for 200 requests sent." in text
    assert "| gateway | 100 | 103 | ok |" in text
    assert "| gateway-traced | 200 | 190 | FEWER |" in text  # fewer than sent: flagged
    assert "The upstream saw FEWER requests" in text
    assert "| gateway | 20.000 | 20.000 | 1000 | 18.00 |" in text


def test_a_failed_workers_contender_is_reported_with_its_reason() -> None:
    results = _results()
    for entry in results["contenders"]:
        if entry["name"] == "gateway-2w":
            entry.update(levels=[], error="skyrelay --help lists no --workers option\nmore")
    text = "\n".join(report24.render_workers(results))
    assert "`gateway-2w` did not run: skyrelay --help lists no --workers option" in text


# --- the long stream -----------------------------------------------------------------------


def test_long_body_has_the_promised_chunks_and_usage() -> None:
    body = upstream.long_sse_body()
    chunks, last, done = longstream.count_chunks(body.encode())
    assert (chunks, last, done) == (upstream.LONG_CHUNKS, True, True)
    usage = json.loads(body.split("\n\n")[-3][6:])["usage"]
    assert usage["completion_tokens"] == upstream.LONG_CHUNKS - 3
    with pytest.raises(ValueError):
        upstream.long_sse_body(3)


def test_an_answer_missing_chunks_or_done_is_refused() -> None:
    body = upstream.long_sse_body().encode()
    assert longstream.check_answer(200, "text/event-stream", body, "x") == 1000
    cut = b"\n\n".join(body.split(b"\n\n")[:500])  # the first 500 chunks only
    with pytest.raises(HarnessError, match="carried 500 of 1000 chunks"):
        longstream.check_answer(200, "text/event-stream", cut, "x")
    with pytest.raises(HarnessError, match="answered 502"):
        longstream.check_answer(502, "application/json", b"{}", "x")


def _chunked_server(delay_before_last: float) -> tuple[socket.socket, threading.Thread]:
    """A one-connection HTTP server streaming the long body chunk by chunk (chunked encoding),
    pausing before the last chunk; it serves requests until the client closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    events = [e + "\n\n" for e in upstream.long_sse_body().split("\n\n") if e]

    def serve() -> None:
        conn, _ = listener.accept()
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
                for i, event in enumerate(events):
                    if i == len(events) - 1:
                        time.sleep(delay_before_last)
                    data = event.encode()
                    conn.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                conn.sendall(b"0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_long_stream_time_runs_to_the_last_chunk() -> None:
    """The clock must stop at the end of the body, not at its first byte: a server pausing
    50 ms before its last chunk gives totals of at least 50 ms."""
    listener, thread = _chunked_server(delay_before_last=0.05)
    port = listener.getsockname()[1]
    try:
        stats = longstream.measure_long_stream("127.0.0.1", port, "/long", "{}", api_key=None,
                                               iterations=3, warmup=1)
    finally:
        listener.close()
    thread.join(5)
    assert stats.iterations == 3 and stats.chunks == upstream.LONG_CHUNKS
    assert stats.min_ms >= 50.0
    assert stats.to_dict()["median_ms"] >= 50.0


def test_long_stream_from_the_real_nginx_upstream() -> None:
    # Under the system temp folder, as the harness runs it: nginx's workers (user 'nobody'
    # when the tests run as root) must reach the file, which pytest's 0700 folders forbid.
    with tempfile.TemporaryDirectory(prefix="gwbench-") as tmp_s, procs.ProcessGroup() as group:
        tmp_path = Path(tmp_s)
        port = procs.free_port()
        child = group.start("upstream",
                            upstream.nginx_argv(upstream.write_upstream_conf(tmp_path, port)),
                            log_dir=tmp_path)
        procs.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=15, proc=child)
        before = _status(port)
        stats = longstream.measure_long_stream(
            "127.0.0.1", port, upstream.LONG_PREFIX + upstream.CHAT_PATH,
            wrk_mod.request_body("m", stream=True), api_key=None, iterations=4, warmup=1)
        after = _status(port)
    assert stats.chunks == upstream.LONG_CHUNKS
    assert stats.bytes == len(upstream.long_sse_body().encode())
    assert after - before - 1 == 5  # the upstream counted the 5 streams (the reading counts)


def _status(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{upstream.STATUS_PATH}") as resp:
        return upstream.parse_stub_status(resp.read().decode())


def test_per_chunk_is_the_difference_over_the_chunks() -> None:
    assert longstream.per_chunk_us(30.0, 10.0, 1000) == pytest.approx(20.0)
    assert longstream.per_chunk_us(10.0, 10.5, 500) == pytest.approx(-1.0)


def test_stub_status_page_is_parsed_or_refused() -> None:
    page = "Active connections: 3 \nserver accepts handled requests\n 10 10 4711 \nReading: 0\n"
    assert upstream.parse_stub_status(page) == 4711
    with pytest.raises(ValueError, match="stub_status"):
        upstream.parse_stub_status("<html>404</html>")


# --- request headers (Portkey) -------------------------------------------------------------


def test_wrk_script_and_raw_requests_carry_portkey_headers(tmp_path: Path) -> None:
    headers = portkey.request_headers(18080, upstream.SSE_PREFIX)
    assert headers == {"x-portkey-provider": "openai",
                       "x-portkey-custom-host": "http://127.0.0.1:18080/sse/v1"}
    script = wrk_mod.write_script(tmp_path, body="{}", api_key="sk-x", headers=headers)
    text = script.read_text()
    assert 'wrk.headers["x-portkey-custom-host"] = "http://127.0.0.1:18080/sse/v1"' in text
    assert 'wrk.headers["Authorization"] = "Bearer sk-x"' in text
    raw = ttfb.build_request("127.0.0.1", 1, "/v1/chat/completions", b"{}", "sk-x", headers)
    assert b"\r\nx-portkey-provider: openai\r\n" in raw and raw.endswith(b"\r\n\r\n{}")
    with pytest.raises(ValueError):
        wrk_mod.write_script(tmp_path, body="{}", api_key=None, headers={"x": 'a"b'})
    with pytest.raises(ValueError):
        ttfb.build_request("h", 1, "/", b"", None, {"x": "a\r\nInjected: 1"})


def test_the_committed_pin_and_lock_agree() -> None:
    manifest = json.loads((portkey.SOURCE_DIR / "package.json").read_text())
    assert manifest["dependencies"] == {portkey.PACKAGE: portkey.PORTKEY_VERSION}
    lock = json.loads((portkey.SOURCE_DIR / "package-lock.json").read_text())
    assert lock["packages"][f"node_modules/{portkey.PACKAGE}"]["version"] == \
        portkey.PORTKEY_VERSION
    held = manifest["overrides"]["@hono/node-server"]
    assert lock["packages"]["node_modules/@hono/node-server"]["version"] == held
    assert all("integrity" in entry for key, entry in lock["packages"].items() if key)


def test_an_install_is_reused_only_when_lock_and_version_match(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    (src / "package-lock.json").write_text('{"lock": 1}')
    assert not portkey.is_current(dest, src)
    pkg = dest / "node_modules" / portkey.PACKAGE
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"version": portkey.PORTKEY_VERSION}))
    (dest / "package-lock.json").write_text('{"lock": 1}')
    assert portkey.is_current(dest, src)
    (dest / "package-lock.json").write_text('{"lock": 2}')  # the pin moved: reinstall
    assert not portkey.is_current(dest, src)
    (dest / "package-lock.json").write_text('{"lock": 1}')
    (pkg / "package.json").write_text(json.dumps({"version": "0.0.1"}))
    assert not portkey.is_current(dest, src)


def test_portkey_command_line_uses_its_own_flags() -> None:
    argv = portkey.portkey_argv(Path("/x/start-server.js"), 9999, node="/usr/bin/node")
    assert argv == ["/usr/bin/node", "/x/start-server.js", "--port=9999", "--headless"]


# --- gateway workers -----------------------------------------------------------------------


def _fake_cli(tmp_path: Path, name: str, help_text: str) -> list[str]:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{help_text}\nEOF\n")
    script.chmod(0o755)
    return [str(script)]


def test_worker_arguments_follow_what_the_cli_offers(tmp_path: Path) -> None:
    new = _fake_cli(tmp_path, "new", "Options:\n  --port INTEGER\n  --workers INTEGER RANGE")
    old = _fake_cli(tmp_path, "old", "Options:\n  --port INTEGER")
    assert skyrelay_gw.worker_args(new, {}, None) == (["--workers", "1"], 1)
    assert skyrelay_gw.worker_args(old, {}, None) == ([], 1)
    assert skyrelay_gw.worker_args(new, {}, ("--workers", "2")) == (["--workers", "2"], 2)
    with pytest.raises(HarnessError, match="no --workers option"):
        skyrelay_gw.worker_args(old, {}, ("--workers", "2"))
    with pytest.raises(HarnessError, match="needs a number"):
        skyrelay_gw.worker_args(new, {}, ("--workers",))
    assert skyrelay_gw.worker_args(old, {}, ("--log-level", "error")) == (
        ["--log-level", "error"], 1)


def test_the_bench_spec_routes_the_long_stream() -> None:
    spec = skyrelay_gw.gateway_spec(18080)
    routes = {r["name"]: r["targets"][0]["endpoint"] for r in spec["routes"]}  # type: ignore
    assert routes[skyrelay_gw.LONG_ROUTE] == "bench-long"
    urls = {e["name"]: e["base_url"] for e in spec["openai_compatible"]}  # type: ignore
    assert urls["bench-long"] == "http://127.0.0.1:18080" + upstream.LONG_PREFIX
    assert skyrelay_gw.LONG_ROUTE in spec["tenants"][0]["routes"]  # type: ignore


# --- span counter and Redis ----------------------------------------------------------------


def _export(spans: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(spans):
        span = scope.spans.add()
        span.name = f"s{i}"
        span.trace_id = bytes(16)
        span.span_id = i.to_bytes(8, "big")
    return request.SerializeToString()


def _post(url: str, body: bytes, ctype: str = "application/x-protobuf") -> int:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"content-type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_span_counter_counts_spans_of_each_export() -> None:
    with otlp.SpanCounter() as sink:
        assert _post(sink.traces_url, _export(3)) == 200
        assert _post(sink.traces_url, _export(2)) == 200
        assert _post(sink.traces_url, b"{}", ctype="application/json") == 400
        counts = sink.counts()
    assert counts["spans"] == 5 and counts["export_requests"] == 2
    assert counts["rejected"] == 1


def test_redis_config_is_private_and_loopback(tmp_path: Path) -> None:
    conf = redis.write_conf(tmp_path, 6390, "abc123")
    text = conf.read_text()
    assert "bind 127.0.0.1\n" in text and "requirepass abc123\n" in text
    assert 'save ""' in text and "appendonly no" in text
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600
    with pytest.raises(ValueError):
        redis.write_conf(tmp_path, 6390, "has space")


def test_redis_starts_stops_and_keeps_the_password_off_argv(tmp_path: Path) -> None:
    with procs.ProcessGroup() as group:
        ctx = Context(tmp=tmp_path, procs=group, upstream_port=1)
        server = redis.start_redis(ctx)
        cmdline = Path(f"/proc/{server.child.pid}/cmdline").read_bytes()
        password = server.env["SKYRELAY_REDIS_PASSWORD"]
        assert password.encode() not in cmdline
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(100).startswith(b"-NOAUTH")
            sock.sendall(f"AUTH {password}\r\nPING\r\n".encode())
            deadline, got = time.monotonic() + 5, b""
            while b"PONG" not in got and time.monotonic() < deadline:
                got += sock.recv(100)
        assert b"+OK" in got and b"PONG" in got
        assert server.env["SKYRELAY_REDIS_URL"] == f"redis://127.0.0.1:{server.port}/0"


def test_memory_per_worker_uses_the_trees_pss_when_measured() -> None:
    results = _results()
    two = next(e for e in results["contenders"] if e["name"] == "gateway-2w")
    two.update(pss_after_mb=150.0, rss_after_mb=210.0, largest_rss_after_mb=85.0)
    row = next(r for r in report24.targets24(results) if r[0].startswith("RSS after"))
    assert "gateway-2w: 75.0 MB PSS (RSS summed 210.0 MB ÷ 2, largest process 85.0 MB RSS)" \
        in row[1]
    assert "gateway: 80.0 MB RSS" in row[1]  # no PSS measured: the RSS figure
    assert row[2] == "met"
    two["pss_after_mb"] = 220.0
    assert next(r for r in report24.targets24(results) if r[0].startswith("RSS after"))[2] \
        == "MISSED"
