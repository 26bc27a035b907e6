"""The static nginx upstream and the nginx ``proxy_pass`` floor, from generated configs.

The upstream answers ``POST {prefix}/v1/chat/completions`` with a fixed OpenAI
chat-completion body; under the ``/sse`` prefix it answers with a fixed SSE stream
(``text/event-stream``), and under the ``/long`` prefix with a fixed stream of
:data:`LONG_CHUNKS` ``data:`` chunks (a file in the temp folder: nginx's configuration parser
caps a ``return`` text at a few KB). A separate prefix, rather than parsing ``"stream": true``
out of the body, keeps the upstream's own cost negligible: the proxies under test get the SSE
endpoints as further base URLs. ``/nginx_status`` is nginx's ``stub_status``, whose request
counter shows how many requests a proxy really sent to this upstream.

Every path nginx writes (pid, logs, temp folders) lives in the run's temp folder, so no root
is needed and nothing outside the folder is touched.

Example::

    conf = write_upstream_conf(Path(tmp), port=18080)
    argv = nginx_argv(conf)   # ["nginx", "-p", tmp, "-e", ..., "-c", conf]
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

#: The model name the upstream reports and the proxies forward.
UPSTREAM_MODEL = "bench-model"
#: Where the JSON endpoint and the SSE endpoint live on the upstream.
JSON_PREFIX = "/v1"
SSE_PREFIX = "/sse/v1"
LONG_PREFIX = "/long/v1"
#: JSON ``data:`` chunks in the long stream (then ``data: [DONE]``).
LONG_CHUNKS = 1000
#: The last content word of the long stream (proxies must deliver it).
LONG_LAST_WORD = "end."
STATUS_PATH = "/nginx_status"

CHAT_PATH = "/chat/completions"


def chat_completion_body() -> str:
    """A realistic, fixed OpenAI chat-completion response (one choice, usage)."""
    return json.dumps({
        "id": "chatcmpl-bench0000000000000000000001",
        "object": "chat.completion",
        "created": 1735689600,
        "model": UPSTREAM_MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant",
                        "content": "Benchmarks measure what a proxy adds to every request.",
                        "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 19, "completion_tokens": 11, "total_tokens": 30},
    }, separators=(",", ":"))


def sse_body() -> str:
    """A fixed OpenAI chat-completion stream: role, three content deltas, stop, usage, [DONE]."""
    base = {"id": "chatcmpl-bench0000000000000000000002", "object": "chat.completion.chunk",
            "created": 1735689600, "model": UPSTREAM_MODEL, "system_fingerprint": "fp_bench"}

    def chunk(delta: dict[str, object], finish: str | None = None,
              usage: dict[str, int] | None = None, empty: bool = False) -> str:
        data: dict[str, object] = dict(base)
        data["choices"] = [] if empty else [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if usage is not None:
            data["usage"] = usage
        return "data: " + json.dumps(data, separators=(",", ":")) + "\n\n"

    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [chunk({"content": word}) for word in ("Streams ", "arrive ", "early.")]
    parts.append(chunk({}, finish="stop"))
    parts.append(chunk({}, usage={"prompt_tokens": 19, "completion_tokens": 3,
                                  "total_tokens": 22}, empty=True))
    parts.append("data: [DONE]\n\n")
    return "".join(parts)


def long_sse_body(chunks: int = LONG_CHUNKS) -> str:
    """A fixed stream of ``chunks`` JSON ``data:`` chunks: role, content words, stop, usage.

    The content chunks carry one short word each, like a model streaming token by token; the
    last word is :data:`LONG_LAST_WORD`. Then ``data: [DONE]``.

    >>> long_sse_body(4).count("data: {")
    4
    """
    if chunks < 4:
        raise ValueError("a long stream needs at least 4 chunks (role, content, stop, usage)")
    base = {"id": "chatcmpl-bench0000000000000000000003", "object": "chat.completion.chunk",
            "created": 1735689600, "model": UPSTREAM_MODEL, "system_fingerprint": "fp_bench"}

    def chunk(delta: dict[str, object], finish: str | None = None,
              usage: dict[str, int] | None = None) -> str:
        data: dict[str, object] = dict(base)
        data["choices"] = [] if usage else [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if usage is not None:
            data["usage"] = usage
        return "data: " + json.dumps(data, separators=(",", ":")) + "\n\n"

    words = chunks - 3
    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [chunk({"content": f"w{i} "}) for i in range(words - 1)]
    parts.append(chunk({"content": LONG_LAST_WORD}))
    parts.append(chunk({}, finish="stop"))
    parts.append(chunk({}, usage={"prompt_tokens": 19, "completion_tokens": words,
                                  "total_tokens": 19 + words}))
    parts.append("data: [DONE]\n\n")
    return "".join(parts)


def _nginx_string(text: str) -> str:
    """Quote ``text`` for nginx's ``return`` (single quotes; no variables, no escapes)."""
    for bad in ("'", "\\", "$"):
        if bad in text:
            raise ValueError(f"body contains {bad!r}, which nginx would interpret")
    return "'" + text + "'"


def workers() -> int:
    """nginx worker processes: one per core, as nginx's own 'auto' would pick."""
    return max(1, os.cpu_count() or 1)


def _main_block(tmp: Path, name: str) -> str:
    """Top of an nginx.conf: pid, error log and event settings, all inside ``tmp``."""
    return f"""# generated by bench/gwbench/upstream.py for one benchmark run
daemon off;
master_process on;
worker_processes {workers()};
pid {tmp}/{name}.pid;
error_log {tmp}/{name}-error.log warn;
events {{
    worker_connections 4096;
    multi_accept on;
}}
"""


def _http_common(tmp: Path, name: str) -> str:
    temp = tmp / f"{name}-temp"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / sub).mkdir(parents=True, exist_ok=True)
    # World-writable temp folders: when the harness runs as root, workers run as 'nobody'.
    for path in [temp, *temp.iterdir()]:
        path.chmod(0o777)
    return f"""    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    client_body_buffer_size 64k;
"""


def write_upstream_conf(tmp: Path, port: int) -> Path:
    """Write the static upstream's nginx.conf into ``tmp``; return its path.

    ``tmp``'s parents must be traversable by nginx's workers (``nobody`` when run as root),
    as under the system temp folder where the harness makes it.
    """
    conf = tmp / "upstream.conf"
    # Workers run as 'nobody' when the harness runs as root: they must reach the file, so the
    # run's folder gets o+x (traverse, no listing) and the file's own folder is readable.
    static = tmp / "upstream-static"
    static.mkdir(exist_ok=True)
    long_body = static / "long-stream.sse"
    long_body.write_text(long_sse_body())
    tmp.chmod(tmp.stat().st_mode | 0o011)
    static.chmod(0o755)
    long_body.chmod(0o644)
    conf.write_text(_main_block(tmp, "upstream") + f"""http {{
{_http_common(tmp, "upstream")}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = {JSON_PREFIX}{CHAT_PATH} {{
            if ($request_method != POST) {{ return 405; }}
            default_type application/json;
            return 200 {_nginx_string(chat_completion_body())};
        }}
        location = {SSE_PREFIX}{CHAT_PATH} {{
            if ($request_method != POST) {{ return 405; }}
            default_type text/event-stream;
            add_header Cache-Control no-cache;
            return 200 {_nginx_string(sse_body())};
        }}
        location = {LONG_PREFIX}{CHAT_PATH} {{
            # A static file: nginx answers POST to one with 405, which error_page turns into
            # the file itself (an internal redirect as GET).
            default_type text/event-stream;
            alias {long_body};
            etag off;
            max_ranges 0;
            add_header Cache-Control no-cache;
            error_page 405 =200 $uri;
        }}
        location = {STATUS_PATH} {{
            stub_status;
        }}
        location = /healthz {{
            default_type text/plain;
            return 200 'ok';
        }}
        location / {{
            return 404;
        }}
    }}
}}
""")
    return conf


def write_proxy_conf(tmp: Path, port: int, upstream_port: int) -> Path:
    """Write the nginx ``proxy_pass`` floor: one hop, keepalive connections to the upstream."""
    conf = tmp / "proxy.conf"
    conf.write_text(_main_block(tmp, "proxy") + f"""http {{
{_http_common(tmp, "proxy")}
    upstream bench_upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 512;
        keepalive_requests 10000000;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /sse/ {{
            proxy_pass http://bench_upstream;
            proxy_buffering off;
        }}
        location /long/ {{
            proxy_pass http://bench_upstream;
            proxy_buffering off;
        }}
        location / {{
            proxy_pass http://bench_upstream;
        }}
    }}
}}
""")
    return conf


def parse_stub_status(text: str) -> int:
    """The total request count in nginx's ``stub_status`` page.

    >>> parse_stub_status("Active connections: 1\\nserver accepts handled requests\\n 5 5 9\\n")
    9
    """
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("server accepts handled requests") and i + 1 < len(lines):
            return int(lines[i + 1].split()[2])
    raise ValueError(f"not an nginx stub_status page: {text[:200]!r}")


def nginx_binary() -> str:
    """Path of Debian's nginx (``/usr/sbin`` is not on every user's PATH)."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise FileNotFoundError("nginx not found: make system-packages installs it")
    return found


def nginx_argv(conf: Path) -> list[str]:
    """Command line that runs nginx in the foreground on ``conf``, prefix = its folder."""
    tmp = conf.parent
    return [nginx_binary(), "-p", f"{tmp}/", "-e", f"{tmp}/{conf.stem}-error.log",
            "-c", str(conf)]
