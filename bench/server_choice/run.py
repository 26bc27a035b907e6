"""Choose the gateway's ASGI server and JSON library by measuring them on this machine.

Servers (one worker each, the gateway's default): uvicorn with httptools + uvloop, uvicorn
with h11 + asyncio, granian's ASGI interface on uvloop. Each serves ``app.py`` in two shapes:
``echo`` (parse the body, serialise a chat completion) and ``proxy`` (the same plus a POST to a
static nginx upstream through aiohttp, the shape of a gateway request). Load: Debian's ``wrk``
at concurrency 1 and 64. JSON: orjson against the standard library on gateway-sized documents.

Usage::

    .venv/bin/python bench/server_choice/run.py --duration 5 \
        --out bench/server_choice/results.md

Everything runs on 127.0.0.1 and stops by itself. Needs nginx and wrk (tools/system-packages.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent

REQUEST = {"model": "bench-chat", "max_tokens": 32,
           "messages": [{"role": "system", "content": "You are terse."},
                        {"role": "user", "content": "Say something short about proxies." * 4}]}
RESPONSE = {
    "id": "chatcmpl-abc", "object": "chat.completion", "created": 1700000000, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Proxies relay requests. " * 8}}],
    "usage": {"prompt_tokens": 40, "completion_tokens": 48, "total_tokens": 88},
}
CHUNK = {"id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 1700000000,
         "model": "m", "choices": [{"index": 0, "delta": {"content": "relay"},
                                    "finish_reason": None}]}

NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log error;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      default_type application/json;
      return 200 '{body}';
    }}
  }}
}}
"""

WRK_LUA = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format('RESULT {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
    .. '"errors":%d}}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout))
end
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Wait until ``url`` answers a POST, or fail if the process died."""
    end = time.monotonic() + timeout
    data = json.dumps(REQUEST).encode()
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not up after {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wrk(url: str, script: Path, connections: int, duration: int) -> dict[str, float]:
    """One wrk run; requests/s, p50/p99 in ms, errors."""
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "-s", str(script), url],
        capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    match = re.search(r"^RESULT (.*)$", out, re.M)
    if not match:
        raise RuntimeError(f"no wrk result in:\n{out}")
    r = json.loads(match.group(1))
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "p50_ms": r["p50_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000, "errors": r["errors"]}


def server_argv(server: str, port: int) -> list[str]:
    """The command line of one server contender serving ``app:app``."""
    if server == "uvicorn-httptools-uvloop":
        return [str(BIN / "uvicorn"), "app:app", "--port", str(port), "--http", "httptools",
                "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
    if server == "uvicorn-h11-asyncio":
        return [str(BIN / "uvicorn"), "app:app", "--port", str(port), "--http", "h11",
                "--loop", "asyncio", "--no-access-log", "--log-level", "warning"]
    if server == "granian-asgi-uvloop":
        return [str(BIN / "granian"), "--interface", "asgi", "--loop", "uvloop", "--port",
                str(port), "--log-level", "warning", "--no-ws", "app:app"]
    raise ValueError(server)


def json_micro() -> dict[str, dict[str, float]]:
    """Microseconds per operation, orjson vs stdlib, on gateway-sized documents."""
    import orjson

    req = json.dumps(REQUEST).encode()
    cases = {
        "loads request": (lambda: orjson.loads(req), lambda: json.loads(req)),
        "dumps response": (lambda: orjson.dumps(RESPONSE),
                           lambda: json.dumps(RESPONSE, separators=(",", ":")).encode()),
        "dumps stream chunk": (lambda: orjson.dumps(CHUNK),
                               lambda: json.dumps(CHUNK, separators=(",", ":")).encode()),
    }
    out = {}
    for name, (fast, std) in cases.items():
        n = 20000
        out[name] = {"orjson_us": min(timeit.repeat(fast, number=n, repeat=5)) / n * 1e6,
                     "stdlib_us": min(timeit.repeat(std, number=n, repeat=5)) / n * 1e6}
    return out


def main() -> int:
    """Run every contender and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--levels", default="1,64", help="wrk concurrency levels")
    parser.add_argument("--servers", default="uvicorn-httptools-uvloop,uvicorn-h11-asyncio,"
                        "granian-asgi-uvloop")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            print(f"{tool} not found (apt-get install {tool})", file=sys.stderr)
            return 2
    levels = [int(x) for x in args.levels.split(",")]
    rows: list[str] = []
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="server-choice-") as tmp_name:
        tmp = Path(tmp_name)
        up_port = free_port()
        body = json.dumps(RESPONSE, separators=(",", ":"))
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=up_port, body=body))
        nginx = subprocess.Popen(["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf"),
                                  "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        try:
            script = tmp / "post.lua"
            script.write_text(WRK_LUA.format(body=json.dumps(REQUEST)))
            wait_up(f"http://127.0.0.1:{up_port}/", nginx)
            for c in levels:
                r = wrk(f"http://127.0.0.1:{up_port}/", script, c, args.duration)
                results[f"direct nginx c={c}"] = r
                rows.append(f"| direct nginx | - | - | {c} | {r['rps']:,.0f} | "
                            f"{r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['errors']} |")
            for server in args.servers.split(","):
                for shape in ("echo", "proxy"):
                    for json_lib in ("orjson", "stdlib"):
                        if json_lib == "stdlib" and server != "uvicorn-httptools-uvloop":
                            continue
                        port = free_port()
                        env = {**os.environ, "BENCH_JSON": json_lib,
                               "BENCH_UPSTREAM": (f"http://127.0.0.1:{up_port}/"
                                                  if shape == "proxy" else "")}
                        proc = subprocess.Popen(server_argv(server, port), cwd=HERE, env=env)
                        try:
                            url = f"http://127.0.0.1:{port}/v1/chat/completions"
                            wait_up(url, proc)
                            for c in levels:
                                r = wrk(url, script, c, args.duration)
                                results[f"{server} {shape} {json_lib} c={c}"] = r
                                rows.append(
                                    f"| {server} | {shape} | {json_lib} | {c} | {r['rps']:,.0f}"
                                    f" | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['errors']} |")
                                print(rows[-1], flush=True)
                        finally:
                            stop(proc)
        finally:
            stop(nginx)
    micro = json_micro()
    lines = ["| server | app | json | conc. | req/s | p50 ms | p99 ms | errors |",
             "|---|---|---|---:|---:|---:|---:|---:|", *rows, "",
             "| JSON operation | orjson µs | stdlib µs |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['orjson_us']:.2f} | {v['stdlib_us']:.2f} |" for k, v in micro.items()]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        args.out.with_suffix(".json").write_text(json.dumps({"wrk": results, "json": micro},
                                                            indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
