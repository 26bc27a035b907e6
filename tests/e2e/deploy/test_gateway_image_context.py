"""The image build context is staged from the installed distribution's metadata and files."""

from __future__ import annotations

import tomllib
from pathlib import Path

from skyrelay.stacks.gateway_image import image_pyproject, write_build_context

REPO = Path(__file__).resolve().parents[3]


def test_the_image_gets_the_core_and_the_gateway_extra_of_pyproject() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    generated = tomllib.loads(image_pyproject())
    # The installed metadata normalises requirement strings; compare by distribution name.
    def dists(reqs: list[str]) -> list[str]:
        return sorted(r.split(";")[0].replace(" ", "").lower().split("[")[0].split(">")[0]
                      .split("<")[0].split("=")[0] for r in reqs)
    assert dists(generated["project"]["dependencies"]) == dists(declared["dependencies"])
    assert dists(generated["project"]["optional-dependencies"]["gateway"]) == dists(
        declared["optional-dependencies"]["gateway"])
    assert generated["project"]["scripts"] == declared["scripts"]


def test_the_context_holds_code_only(tmp_path: Path) -> None:
    # Bytecode next to the sources (tests import them, pip compiles installs) stays out.
    cache = REPO / "gateway" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "planted.cpython-311.pyc").write_bytes(b"not code")
    try:
        context = write_build_context(tmp_path / "ctx")
    finally:
        (cache / "planted.cpython-311.pyc").unlink()
    files = {p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file()}
    assert "skyrelay/gateway/__pycache__/planted.cpython-311.pyc" not in files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert {"Dockerfile", "pyproject.toml", "skyrelay/gateway/openapi.json"} <= files
    assert not [f for f in files if f.startswith(("skyrelay/stacks", "skyrelay/pulumi"))]
