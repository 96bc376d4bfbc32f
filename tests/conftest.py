"""Session-wide: the least-privilege check (tests/least_privilege.py) over the integration and
fault-injection suites. It runs when every integration test ran and passed in this session, and
fails the session on a missing or an unused permission, naming it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.least_privilege import Recorder, check, function_policies

INTEGRATION = Path(__file__).resolve().parent / "integration"
RECORDER = Recorder()
_RESULTS: dict[str, list[str]] = {}
_PASSED: set[str] = set()


def pytest_configure(config: pytest.Config) -> None:
    RECORDER.install()  # before any client is made from the code's session
    # The fixed dev secrets (devdata.salt), in this process and every stack it starts: never a
    # `make dev` that happens to run in the checkout. A test of the drawn salt unsets it.
    os.environ["SKIPCALL_BRIDGE_DEV_SALT"] = ""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        _PASSED.add(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    integration = {item.nodeid for item in session.items if "/integration/" in item.nodeid}
    modules = {nodeid.split("::")[0] for nodeid in integration}
    every_module = {f"tests/integration/{path.name}" for path in INTEGRATION.glob("test_*.py")}
    selected = not session.config.getoption("keyword") and not session.config.getoption("markexpr")
    if modules != every_module or not selected or not integration <= _PASSED:
        return  # a partial or failing run cannot prove what is unused
    problems = check(RECORDER.calls, function_policies())
    _RESULTS["calls"] = sorted(
        f"{call.function}  {call.action}  {call.resource}" for call in RECORDER.calls
    )
    _RESULTS["problems"] = problems
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if "calls" not in _RESULTS:
        return
    write = terminalreporter.write_line
    write(f"least privilege: {len(_RESULTS['calls'])} (function, action, resource) seen")
    for line in _RESULTS["calls"]:
        write(f"  {line}")
    for problem in _RESULTS["problems"]:
        write(f"LEAST PRIVILEGE FAILED: {problem}", red=True)
