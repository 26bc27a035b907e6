"""The LiteLLM proxy at a pinned version, in its own virtual environment under ``bench/``.

LiteLLM's dependency tree would clash with the project's (pydantic, httpx, openai pins), so
the harness installs it into ``bench/.venv-litellm`` (git-ignored) with ``python -m venv`` and
pip, once; later runs reuse it when the pinned version is already there.

Pin: 1.106.0. The benchmark issue cites LiteLLM 1.106; later 1.106.x and 1.108+/1.109
releases require a ``certifi`` newer than the package index here offers, and 1.107.0 was a
compromised release withdrawn from PyPI, so it must never be pinned.

Example::

    exe = ensure_litellm(Path("bench/.venv-litellm"))
    conf = write_config(Path(tmp), upstream_port=18080, master_key="sk-bench")
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gwbench.procs import HarnessError
from gwbench.upstream import JSON_PREFIX, LONG_PREFIX, SSE_PREFIX, UPSTREAM_MODEL

LITELLM_VERSION = "1.106.0"
REQUIREMENT = f"litellm[proxy]=={LITELLM_VERSION}"

#: Environment for the proxy: errors only (uvicorn's access log off), no network look-ups.
LITELLM_ENV = {
    "LITELLM_LOG": "ERROR",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_MODE": "PRODUCTION",
    "DISABLE_ADMIN_UI": "True",
}


def installed_version(venv: Path) -> str | None:
    """The litellm version installed in ``venv``, or None."""
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_litellm(venv: Path, *, log: object = print) -> Path:
    """Install the pinned LiteLLM proxy into ``venv`` unless it is there; return its CLI."""
    exe = venv / "bin" / "litellm"
    if installed_version(venv) == LITELLM_VERSION and exe.exists():
        return exe
    log(f"installing {REQUIREMENT} into {venv} (once; about a minute)")  # type: ignore[operator]
    steps = [[sys.executable, "-m", "venv", str(venv)]] if not (venv / "bin" / "python").exists() \
        else []
    steps.append([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                  "--disable-pip-version-check", REQUIREMENT])
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1200, check=False)
        if done.returncode != 0:
            raise HarnessError(f"installing LiteLLM failed ({' '.join(argv)}):\n"
                               f"{(done.stderr or done.stdout)[-3000:]}")
    if installed_version(venv) != LITELLM_VERSION:
        raise HarnessError(f"{venv} does not hold litellm {LITELLM_VERSION} after install")
    return exe


def write_config(tmp: Path, *, upstream_port: int, master_key: str, chat_model: str,
                 stream_model: str, long_model: str | None = None) -> Path:
    """LiteLLM proxy config: model names on the same upstream (JSON, SSE, long-SSE URLs).

    YAML is a superset of JSON, so the config is written as JSON (no YAML library needed).
    """
    def entry(name: str, prefix: str) -> dict[str, object]:
        return {"model_name": name,
                "litellm_params": {"model": f"openai/{UPSTREAM_MODEL}",
                                   "api_base": f"http://127.0.0.1:{upstream_port}{prefix}",
                                   "api_key": "sk-upstream-unused"}}

    config = {
        "model_list": [entry(chat_model, JSON_PREFIX), entry(stream_model, SSE_PREFIX)]
        + ([entry(long_model, LONG_PREFIX)] if long_model else []),
        "litellm_settings": {"set_verbose": False, "json_logs": False,
                             "turn_off_message_logging": True, "drop_params": True},
        "general_settings": {"master_key": master_key},
    }
    path = tmp / "litellm.yaml"
    path.write_text(json.dumps(config, indent=2))
    return path


def litellm_argv(exe: Path, config: Path, port: int) -> list[str]:
    """Command line: one uvicorn worker (LiteLLM's default) on 127.0.0.1."""
    return [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
            "--num_workers", "1"]
