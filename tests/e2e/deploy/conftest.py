"""Fixtures for the gateway deployment tests: one real ``skyrelay synth`` per session.

The session runs the command a user runs (``skyrelay synth examples/platform.yaml``: the
pinned CDK CLI with the cdk-nag packs as validation plugins, then the Azure program under
mocks) once, with three things arranged around it:

* a ``docker`` first on PATH that records any call (synth must not build images);
* test secrets in the environment (tenant key hashes, an Azure client secret, a Redis
  password ...) that no output may contain;
* an output folder of its own, so the developer's ``cdk.out/`` is left alone.

Every template, the Azure plan and the validation report are then read from that folder.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cfn_template
import pytest

REPO = Path(__file__).resolve().parents[3]
DEFAULT_SPEC = REPO / "examples" / "platform.yaml"
BIN = Path(sys.executable).parent

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20,22")

needs_cdk_cli = pytest.mark.skipif(
    not (REPO / "node_modules" / ".bin" / "cdk").exists(),
    reason="the pinned CDK CLI is installed by `npm ci` (make install)")


@dataclass
class Synthesized:
    """The output of one ``skyrelay synth`` run and what was arranged around it."""

    outdir: Path
    templates: dict[str, dict[str, Any]]
    secrets: dict[str, str]
    docker_log: Path
    output: str

    def template(self, region: str, kind: str = "gateway") -> dict[str, Any]:
        """The template of stack ``acme-ai-<region>-<kind>``."""
        return self.templates[f"acme-ai-{region}-{kind}"]


def sentinel_secrets() -> dict[str, str]:
    """Secret values as an operator's shell might hold them while running synth."""
    from skyrelay.gateway.tenancy.keys import new_key

    key, stored = new_key()
    return {
        "SKYRELAY_SECRET_SKYRELAY_TENANTS_WEB_APP": stored,
        "SKYRELAY_TEST_TENANT_KEY": key,
        "SKYRELAY_SECRET_SKYRELAY_TENANTS_RESEARCH": new_key()[1],
        "AZURE_CLIENT_SECRET": "azs~" + secrets.token_urlsafe(24),
        "ARM_CLIENT_SECRET": "arm~" + secrets.token_urlsafe(24),
        "SKYRELAY_REDIS_PASSWORD": "redis-" + secrets.token_hex(16),
        "PULUMI_CONFIG_PASSPHRASE": "pp-" + secrets.token_hex(16),
    }


def _recording_docker(folder: Path, log: Path) -> None:
    """A ``docker`` executable that appends its arguments to ``log`` and fails."""
    script = folder / "docker"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    """``skyrelay synth`` of the default spec, once per session."""
    if not (REPO / "node_modules" / ".bin" / "cdk").exists():
        pytest.skip("the pinned CDK CLI is installed by `npm ci` (make install)")
    base = tmp_path_factory.mktemp("gateway-synth")
    fake_bin = base / "bin"
    fake_bin.mkdir()
    docker_log = base / "docker-calls.log"
    _recording_docker(fake_bin, docker_log)
    values = sentinel_secrets()
    env = {**os.environ, **values, "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"}
    outdir = base / "cdk.out"
    proc = subprocess.run([str(BIN / "skyrelay"), "synth", str(DEFAULT_SPEC), "-o", str(outdir)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    templates = {p.name.removesuffix(".template.json"): json.loads(p.read_text())
                 for p in outdir.glob("*.template.json")}
    yield Synthesized(outdir, templates, values, docker_log, proc.stdout + proc.stderr)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def cfn() -> Any:
    """The template helpers (``cfn.resources``, ``cfn.render`` ...) for test modules."""
    return cfn_template
