"""The Portkey OSS gateway (npm ``@portkey-ai/gateway``, Node) at a pinned version.

``bench/portkey/package.json`` pins the version and ``package-lock.json`` every dependency
(with integrity hashes); the harness copies both into ``bench/.portkey`` (git-ignored) and runs
``npm ci --ignore-scripts`` there once. Later runs reuse the folder while its lock file is the
committed one and the pinned version is installed, so they need neither npm nor the network.

Pin: 1.15.2 (the latest release when it was added). Its dependency ``@hono/node-server`` is
held at 1.13.8 by an npm ``overrides`` entry: from 1.14 on, that package's lightweight
``Response`` keeps the immutable headers of a ``fetch()`` response, and Portkey then fails every
streamed OpenAI-provider answer with ``TypeError: immutable`` when it appends its
``x-portkey-*`` headers. (``--ignore-scripts`` skips Portkey's ``postinstall: patch-package``,
which has no patches to apply in the published package.)

The server is ``node build/start-server.js --port=N --headless`` (the flags its
``start-server`` parses; ``--headless`` leaves out the browser console). It has no
authentication of its own and takes the provider and the upstream from each request's headers
(:func:`request_headers`): ``x-portkey-provider: openai`` and ``x-portkey-custom-host``, the
upstream's base URL on 127.0.0.1, so no request leaves the machine; the bearer token is passed
through to the upstream as the provider key.

Example::

    script = ensure_portkey(Path("bench/.portkey"))
    argv = portkey_argv(script, port=8787)
    headers = request_headers(upstream_port=18080, prefix="/v1")
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from gwbench.procs import HarnessError

PORTKEY_VERSION = "1.15.2"
PACKAGE = "@portkey-ai/gateway"
#: The committed package.json and package-lock.json.
SOURCE_DIR = Path(__file__).resolve().parent.parent / "portkey"
#: Where ``npm ci`` installs it (git-ignored).
INSTALL_DIR = Path(__file__).resolve().parent.parent / ".portkey"
#: Production mode: no console UI, no log streaming to it.
PORTKEY_ENV = {"NODE_ENV": "production"}
#: Loopback check that the server answers (``GET /`` says "AI Gateway says hey!").
READY_PATH = "/"


def installed_version(install_dir: Path) -> str | None:
    """The installed ``@portkey-ai/gateway`` version under ``install_dir``, or None."""
    manifest = install_dir / "node_modules" / PACKAGE / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def is_current(install_dir: Path, source_dir: Path = SOURCE_DIR) -> bool:
    """Whether ``install_dir`` holds the pinned version installed from the committed lock."""
    try:
        same_lock = ((install_dir / "package-lock.json").read_bytes()
                     == (source_dir / "package-lock.json").read_bytes())
    except OSError:
        return False
    return same_lock and installed_version(install_dir) == PORTKEY_VERSION


def server_script(install_dir: Path) -> Path:
    """The Node entry point of the installed gateway."""
    return install_dir / "node_modules" / PACKAGE / "build" / "start-server.js"


def node_binary() -> str:
    """Path of ``node`` (Debian's nodejs)."""
    found = shutil.which("node")
    if not found:
        raise HarnessError("node not found: Portkey needs Node.js (apt-get install nodejs npm)")
    return found


def ensure_portkey(install_dir: Path = INSTALL_DIR, *, source_dir: Path = SOURCE_DIR,
                   log: Callable[[str], None] = print) -> Path:
    """Install the pinned Portkey into ``install_dir`` unless it is there; return its script."""
    if not is_current(install_dir, source_dir):
        npm = shutil.which("npm")
        if not npm:
            raise HarnessError("npm not found: installing Portkey needs it "
                               "(apt-get install npm)")
        log(f"installing {PACKAGE}@{PORTKEY_VERSION} into {install_dir} (npm ci, once)")
        install_dir.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(source_dir / name, install_dir / name)
        argv = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"]
        done = subprocess.run(argv, cwd=install_dir, capture_output=True, text=True,
                              timeout=900, check=False)
        if done.returncode != 0:
            raise HarnessError(f"installing Portkey failed ({' '.join(argv)} in {install_dir}):"
                               f"\n{(done.stderr or done.stdout)[-3000:]}")
        if installed_version(install_dir) != PORTKEY_VERSION:
            raise HarnessError(f"{install_dir} does not hold {PACKAGE} {PORTKEY_VERSION} "
                               "after npm ci")
    script = server_script(install_dir)
    if not script.exists():
        raise HarnessError(f"{script} is missing: remove {install_dir} to reinstall")
    return script


def portkey_argv(script: Path, port: int, node: str | None = None) -> list[str]:
    """Command line: the Node server on ``port``, without its browser console.

    >>> portkey_argv(Path("/p/start-server.js"), 8787, node="node")
    ['node', '/p/start-server.js', '--port=8787', '--headless']
    """
    return [node or node_binary(), str(script), f"--port={port}", "--headless"]


def request_headers(upstream_port: int, prefix: str) -> dict[str, str]:
    """Headers that make Portkey call the OpenAI-compatible upstream at ``prefix`` on loopback.

    >>> request_headers(18080, "/sse/v1")["x-portkey-custom-host"]
    'http://127.0.0.1:18080/sse/v1'
    """
    return {"x-portkey-provider": "openai",
            "x-portkey-custom-host": f"http://127.0.0.1:{upstream_port}{prefix}"}
