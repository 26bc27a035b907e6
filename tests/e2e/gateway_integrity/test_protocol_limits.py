"""Issue 22, finding 3: hostile clients are bounded at the protocol layer.

Against the real ``skyrelay gateway serve`` process: header and URL floods are cut while
parsing (memory stays flat, the event loop keeps answering), slowloris and idle sockets are
closed within the header timeout, and connections past the cap are refused at once.
``SKYRELAY_FLOOD_MB`` (default 128) sets the MB sent per flooding connection.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skyrelay.gateway.tenancy.keys import new_key
from skyrelay.gateway.testing.harness import base_config_dict
from skyrelay.gateway.testing.serve_process import ServeProcess

MB = 1024 * 1024
FLOOD_MB = int(os.environ.get("SKYRELAY_FLOOD_MB", "128"))
HEADER_TIMEOUT = 2.0


def _serve(tmp_path: Path, **env: str) -> ServeProcess:
    _, stored = new_key()
    config = base_config_dict({"up": {}}, {"chat": {"targets": ["up"]}})
    return ServeProcess(config, {"T1_KEY": stored, **env}, tmp_path)


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[ServeProcess]:
    with _serve(tmp_path, SKYRELAY_HEADER_TIMEOUT=str(HEADER_TIMEOUT)) as proc:
        yield proc


def _flood(port: int, head: bytes, filler: bytes, total: int, out: dict[str, Any]) -> None:
    """Send ``head`` then ``filler`` up to ``total`` bytes; note what came back."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        try:
            sock.sendall(head)
            chunk = filler * (MB // len(filler))
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server closed the connection: what it should do
        sock.settimeout(5)
        try:
            out["answer"] = sock.recv(65536)
        except OSError:
            out["answer"] = b""
    out["sent"] = sent


def _watch_rss(proc: ServeProcess, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], proc.rss_bytes())
        time.sleep(0.02)


@pytest.mark.parametrize("where", ["header", "url"])
def test_header_and_url_floods_are_cut_while_parsing(gw: ServeProcess, where: str) -> None:
    base = gw.rss_bytes()
    peak = [base]
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_rss, args=(gw, stop, peak))
    watcher.start()
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Big: " if where == "header"
            else b"GET /v1/models?q=")
    results: list[dict[str, Any]] = [{} for _ in range(8)]
    floods = [threading.Thread(target=_flood, args=(gw.port, head, b"a", FLOOD_MB * MB, r))
              for r in results]
    for t in floods:
        t.start()
    healthy = httpx.get(gw.url + "/healthz", timeout=5).status_code  # meanwhile
    for t in floods:
        t.join(300)
    stop.set()
    watcher.join()
    grown = peak[0] - base
    print(f"\n{where} flood: {8 * FLOOD_MB} MB offered over 8 connections, "
          f"{sum(r['sent'] for r in results) / MB:.0f} MB accepted, RSS +{grown / MB:.1f} MB")
    assert healthy == 200
    assert grown < 50 * MB, grown
    for r in results:
        assert r["answer"].startswith(b"HTTP/1.1 431"), r["answer"][:100]
    assert httpx.get(gw.url + "/healthz", timeout=5).status_code == 200


def test_slowloris_and_idle_connections_are_closed_within_the_header_timeout(
        gw: ServeProcess) -> None:
    socks: list[socket.socket] = []
    for i in range(1000):
        sock = socket.create_connection(("127.0.0.1", gw.port))
        if i % 10:  # 900 slowloris, 100 idle
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        socks.append(sock)
    started = time.monotonic()
    open_socks = set(range(len(socks)))
    answers: dict[int, bytes] = {}
    for sock in socks:
        sock.setblocking(False)
    while open_socks and time.monotonic() - started < HEADER_TIMEOUT + 20:
        for i in list(open_socks):
            try:
                data = socks[i].recv(4096)
            except BlockingIOError:
                if i % 10:
                    try:  # one more header byte now and then: never finishing the head
                        socks[i].send(b"X")
                    except OSError:
                        open_socks.discard(i)
                continue
            except OSError:
                open_socks.discard(i)
                continue
            answers[i] = answers.get(i, b"") + data
            if not data:
                open_socks.discard(i)
        time.sleep(0.2)
    took = time.monotonic() - started
    for sock in socks:
        sock.close()
    print(f"\n1000 slowloris/idle connections: {1000 - len(open_socks)} closed by the server "
          f"after {took:.1f} s (header timeout {HEADER_TIMEOUT:g} s)")
    assert not open_socks, f"{len(open_socks)} connections still open"
    assert sum(1 for a in answers.values() if a.startswith(b"HTTP/1.1 408")) >= 900
    assert httpx.get(gw.url + "/healthz", timeout=5).status_code == 200


def test_a_slow_head_after_a_served_request_is_cut_too(gw: ServeProcess) -> None:
    """The header clock restarts with each request's first byte on a keep-alive
    connection: a first request served quickly, then a second head that never ends."""
    with socket.create_connection(("127.0.0.1", gw.port)) as sock:
        sock.settimeout(HEADER_TIMEOUT + 10)
        time.sleep(HEADER_TIMEOUT * 0.75)  # most of the connection's first window goes idle
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b"}") and (data := sock.recv(65536)):
            first += data
        assert first.startswith(b"HTTP/1.1 200"), first[:100]
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no end of head
        answer = b""
        while not answer.endswith(b"}") and (data := sock.recv(65536)):
            answer += data
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    # cut by the second head's own clock: not at the first window's end, not much later
    assert HEADER_TIMEOUT * 0.9 <= took <= HEADER_TIMEOUT + 3, took


def test_connections_past_the_cap_are_refused_at_once(tmp_path: Path) -> None:
    with _serve(tmp_path, SKYRELAY_MAX_CONNECTIONS="50") as proc:
        socks = [socket.create_connection(("127.0.0.1", proc.port)) for _ in range(70)]
        refused = 0
        for sock in socks[50:]:
            sock.settimeout(5)
            if sock.recv(4096).startswith(b"HTTP/1.1 503"):
                refused += 1
        for sock in socks:
            sock.close()
        assert refused == 20
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the closed ones free their slots
            try:
                if httpx.get(proc.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert httpx.get(proc.url + "/healthz", timeout=2).status_code == 200
