"""docs/gateway-local.md, followed step by step: the local upstreams, a tenant key, the
environment the doc exports, ``skyrelay gateway serve`` on examples/local-clouds.yaml, and
the doc's SDK calls against every target kind (OpenAI-compatible with a key, Azure v1 and
classic client styles, Bedrock Converse and InvokeModel)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOC = REPO / "docs" / "gateway-local.md"
MSG = [{"role": "user", "content": "hello"}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def _doc_exports() -> dict[str, str]:
    """The variables the doc's bash block exports (literal values only)."""
    block = DOC.read_text().split("```bash", 1)[1].split("```", 1)[0]
    out: dict[str, str] = {}
    for line in block.splitlines():
        if line.startswith("export "):
            for name, value in re.findall(r"([A-Z_]+)=('[^']*'|\S+)", line.split("#")[0]):
                out[name] = value.strip("'")
    return out


def _stop(*procs: subprocess.Popen[str] | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_the_docs_walkthrough_against_every_target_kind(tmp_path: Path) -> None:
    doc = DOC.read_text()
    for step in ("python -m skyrelay.gateway.testing.local_upstreams --openai-port 9100 "
                 "--bedrock-port 9200 --key sk-local-upstream",
                 "skyrelay keys new dev --json",
                 "skyrelay gateway serve --spec local-clouds.yaml --port 8080"):
        assert step in doc, step
    exports = _doc_exports()
    assert exports["VLLM_KEY"] == exports["SKYRELAY_AZURE_KEY_LOCAL_AOAI"] == "sk-local-upstream"
    oai_port, br_port, gw_port = _free_port(), _free_port(), _free_port()
    spec = tmp_path / "local-clouds.yaml"
    spec.write_text((REPO / "examples" / "local-clouds.yaml").read_text()
                    .replace("127.0.0.1:9100", f"127.0.0.1:{oai_port}")
                    .replace("127.0.0.1:9200", f"127.0.0.1:{br_port}"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SKYRELAY_", "AWS_", "AZURE_"))}
    upstreams = subprocess.Popen(
        [sys.executable, "-P", "-m", "skyrelay.gateway.testing.local_upstreams",
         "--openai-port", str(oai_port), "--bedrock-port", str(br_port),
         "--key", "sk-local-upstream", "--seconds", "180"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    gateway = None
    try:
        assert upstreams.stdout is not None
        assert f"127.0.0.1:{oai_port}" in upstreams.stdout.readline()
        assert f"127.0.0.1:{br_port}" in upstreams.stdout.readline()
        issued = json.loads(subprocess.run([BIN / "skyrelay", "keys", "new", "dev", "--json"],
                                           capture_output=True, text=True, check=True,
                                           timeout=60).stdout)
        gw_env = {**env, **{k: v for k, v in exports.items() if k != "SKYRELAY_KEY_DEV"},
                  "SKYRELAY_KEY_DEV": issued["hash"],
                  "SKYRELAY_METRICS_PORT": str(_free_port())}
        gateway = subprocess.Popen(
            [BIN / "skyrelay", "gateway", "serve", "--spec", spec.name, "--port",
             str(gw_port)], cwd=tmp_path, env=gw_env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{gw_port}"
        _wait_healthy(url + "/healthz", gateway)
        client = openai.OpenAI(base_url=url + "/v1", api_key=issued["key"], max_retries=0,
                               timeout=30)
        raw = client.chat.completions.with_raw_response.create(model="chat", messages=MSG)  # type: ignore[arg-type]
        assert raw.parse().choices[0].message.content == "Hello from the local upstream"
        assert raw.headers["x-request-id"] and raw.headers["x-ratelimit-limit-requests"] == "60"
        bedrock = client.chat.completions.create(model="bedrock-chat", messages=MSG)  # type: ignore[arg-type]
        assert bedrock.choices[0].message.content == "Hello from Bedrock"
        emb = client.embeddings.create(model="embed", input="hello", encoding_format="base64")
        assert emb.data and emb.usage.prompt_tokens == 1
        azure = openai.AzureOpenAI(azure_endpoint=url, api_key=issued["key"],
                                   api_version="2024-10-21", max_retries=0, timeout=30)
        assert azure.chat.completions.create(model="azure-chat", messages=MSG)  # type: ignore[arg-type]
        v1 = openai.OpenAI(base_url=url + "/openai/v1/", api_key=issued["key"], max_retries=0)
        assert v1.chat.completions.create(model="azure-chat", messages=MSG)  # type: ignore[arg-type]
        try:
            client.chat.completions.create(model="bedrock-chat", messages=MSG, n=2)  # type: ignore[arg-type]
            raise AssertionError("n=2 must be refused for Bedrock")
        except openai.BadRequestError as err:
            assert err.param == "n" and "one choice" in err.message
    finally:
        _stop(gateway, upstreams)
