"""Debian's Chromium, headless, for tests that look at a page from the browser's side.

Each call is one fresh browser process with its own profile folder, no network (every host
name resolves to nothing, no proxy reachable) and, as root, no sandbox (Chromium's sandbox
refuses to run as root). Pages are opened as ``file://`` URLs.

Example::

    browser = Chromium.find()
    dom = browser.dump_dom(Path("cdk.out/plan.html"), tmp_path)
    browser.screenshot(Path("cdk.out/plan.html"), tmp_path / "plan.png", tmp_path)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Where tools/system-packages installs it (Debian package `chromium`).
INSTALL_HINT = "tools/system-packages chromium (Debian: apt-get install chromium)"


@dataclass(frozen=True)
class Chromium:
    """A Chromium executable and the flags every run gets."""

    executable: str

    @classmethod
    def find(cls) -> Chromium:
        """The ``chromium`` on PATH; AssertionError naming the install command otherwise."""
        found = shutil.which("chromium") or shutil.which("chromium-browser")
        assert found, f"chromium is not installed: run {INSTALL_HINT}"
        return cls(found)

    def _run(self, page: Path, work: Path, *extra: str, size: str = "1600,1200") -> str:
        profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=work)
        args = [self.executable, "--headless", "--disable-gpu", "--hide-scrollbars",
                "--no-first-run", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                # Offline: nothing resolves and no proxy answers, so any fetch fails.
                "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
                f"--window-size={size}", *extra]
        if os.geteuid() == 0:
            args.append("--no-sandbox")
        args.append(page.resolve().as_uri())
        proc = subprocess.run(args, capture_output=True, text=True, timeout=180,
                              cwd=work, env={**os.environ, "HOME": str(work)})
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    def dump_dom(self, page: Path, work: Path) -> str:
        """The page's DOM after load (scripts run), serialized by the browser."""
        return self._run(page, work, "--dump-dom", "--virtual-time-budget=5000")

    def screenshot(self, page: Path, png: Path, work: Path, size: str = "1600,1200") -> Path:
        """A PNG of the first ``size`` pixels of the page."""
        self._run(page, work, f"--screenshot={png}", size=size)
        assert png.is_file() and png.stat().st_size > 0, f"no screenshot at {png}"
        return png
