"""Start ``skyrelay gateway serve --config-env`` as the container does, probe it, stop it.

Run by test_gateway_deploy_image.py, directly or inside a network namespace with only a
loopback interface. Usage: ``python serve_probe.py SKYRELAY_CLI PORT CWD``; the config JSON
is in the environment variable ``SKYRELAY_GATEWAY_CONFIG``. Prints one JSON object: the
/healthz status, the /readyz status and body (public, and the details from the metrics port
``SKYRELAY_METRICS_PORT``), and the server's exit code after SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


def get(url: str) -> tuple[int, bytes]:
    """Status and body of a GET (error statuses included)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def main() -> int:
    cli, port, cwd = sys.argv[1], sys.argv[2], sys.argv[3]
    # The image's entrypoint, with loopback instead of 0.0.0.0 (tests bind nothing wider).
    proc = subprocess.Popen([cli, "gateway", "serve", "--host", "127.0.0.1", "--port", port,
                             "--config-env", "SKYRELAY_GATEWAY_CONFIG"], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    result: dict[str, object] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                result["healthz"] = get(base + "/healthz")[0]
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        if "healthz" in result:
            status, body = get(base + "/readyz")
            result["readyz"] = status
            result["readyz_public"] = json.loads(body)  # the status only, on the main port
            # the details are on the metrics port (127.0.0.1 inside the task)
            ops = f"http://127.0.0.1:{os.environ['SKYRELAY_METRICS_PORT']}"
            result["readyz_body"] = json.loads(get(ops + "/readyz")[1])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        result["exit_code"] = proc.returncode
        result["log"] = proc.stdout.read().decode(errors="replace")[-4000:] if proc.stdout \
            else ""
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
