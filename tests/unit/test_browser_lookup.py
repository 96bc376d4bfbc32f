"""The browser tests' lookup (tests/e2e/browser.py): a browser named by CHROME_PATH and
CHROMEDRIVER_PATH is used; without one the tests are skipped with what to install, except
under CI, where a missing browser fails the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import browser


def _executable(path: Path) -> str:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_the_paths_the_user_names_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chrome, driver = _executable(tmp_path / "chrome"), _executable(tmp_path / "driver")
    monkeypatch.setenv("CHROME_PATH", chrome)
    monkeypatch.setenv("CHROMEDRIVER_PATH", driver)
    assert browser.require_browser() == browser.Browser(chrome, driver)


def _nothing_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROME_PATH", str(tmp_path / "absent"))
    monkeypatch.setenv("CHROMEDRIVER_PATH", str(tmp_path / "absent-driver"))


def test_without_a_browser_the_tests_are_skipped_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _nothing_installed(tmp_path, monkeypatch)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        browser.require_browser()


def test_under_ci_a_missing_browser_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _nothing_installed(tmp_path, monkeypatch)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI needs the browser tests"):
        browser.require_browser()


def test_a_driver_without_a_browser_is_not_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHROME_PATH", str(tmp_path / "absent"))
    monkeypatch.setenv("CHROMEDRIVER_PATH", _executable(tmp_path / "driver"))
    assert browser.find_browser() is None
