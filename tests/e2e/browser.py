"""Where the browser tests find Chromium (or Chrome) and its driver.

`make test` installs Debian's chromium and chromium-driver where it can (root, apt-get). On other
machines (not root, macOS) a browser already installed is used: `CHROME_PATH` and
`CHROMEDRIVER_PATH` first, then the usual places. With neither, the browser tests are skipped
with one line saying what to install; under CI (`CI=true`) a missing browser fails the run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

BROWSERS = (
    "chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
    "/snap/bin/chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
)  # fmt: skip
DRIVERS = (
    "chromedriver", "/usr/lib/chromium/chromedriver", "/snap/bin/chromium.chromedriver",
    "/opt/homebrew/bin/chromedriver", "/usr/local/bin/chromedriver",
)  # fmt: skip
WHAT_TO_INSTALL = (
    "install Chromium and its driver (Debian: apt-get install chromium chromium-driver; "
    "macOS: brew install --cask chromium chromedriver) or set CHROME_PATH and CHROMEDRIVER_PATH"
)


@dataclass(frozen=True)
class Browser:
    binary: str
    driver: str


def _first(variable: str, candidates: tuple[str, ...]) -> str | None:
    given = os.environ.get(variable)
    if given:  # named by the user: it must be there, or the message says which is wrong
        return given if Path(given).is_file() else None
    for candidate in candidates:
        found = shutil.which(candidate) if "/" not in candidate else candidate
        if found and Path(found).is_file() and os.access(found, os.X_OK):
            return found
    return None


def find_browser() -> Browser | None:
    binary = _first("CHROME_PATH", BROWSERS)
    driver = _first("CHROMEDRIVER_PATH", DRIVERS)
    return Browser(binary, driver) if binary and driver else None


def require_browser() -> Browser:
    """The browser to drive; skips (fails under CI) with what to install when there is none."""
    found = find_browser()
    if found is not None:
        return found
    message = f"no Chromium or Chrome with its driver on this machine: {WHAT_TO_INSTALL}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs the browser tests: {message}", pytrace=False)
    pytest.skip(message)
