"""Debian's chromium, driven by Playwright for Python (its own browser download is not
used): installed with scripts/install-browser when missing."""

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL_BROWSER = ROOT / "scripts" / "install-browser"
VIEWPORT = {"width": 1366, "height": 768}
# Where the tests put their screenshots: docs/console/ when UPDATE_SCREENSHOTS=1 (to
# commit them), else a temporary directory (they are taken all the same).
SCREENSHOTS = ROOT / "docs" / "console"


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    subprocess.run([str(INSTALL_BROWSER)], check=True, timeout=900)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch_options() -> dict:
    args = ["--disable-dev-shm-usage", "--disable-gpu"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # chromium refuses to run as root with its sandbox
    return {"executable_path": chromium_path(), "headless": True, "args": args}
