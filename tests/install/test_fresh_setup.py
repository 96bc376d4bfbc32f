"""`make setup` on a Python whose own pip is old.

Python 3.11 up to 3.11.8, and Debian 12's python3-venv, ship pip 23.x, which refuses the dev lock
(`coverage[toml]>=…` from pytest-cov is not pinned once the lock strips extras). So every
environment the Makefile creates installs the pip of requirements/pip.txt first. This test makes a
venv whose pip is the oldest the README promises (23.0.1, itself from a hashed lock), then runs
the Makefile's own `setup` on a copy of the project. Like installing, it reads the package index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("Makefile", "pyproject.toml", "README.md", "requirements", "src")
IGNORED = shutil.ignore_patterns("__pycache__", "*.egg-info", "sources.json", "requirements.txt.*")


def _pins(path: Path, name: str) -> str:
    line = next(x for x in path.read_text().splitlines() if x.startswith(f"{name}=="))
    return line.split("==")[1].split()[0]


def _run(*command: str | Path, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - the project's own Makefile and venv
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,  # the assertion below shows what pip or make said
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _pip_version(python: Path, cwd: Path, env: dict[str, str]) -> str:
    out = _run(python, "-c", "import pip; print(pip.__version__)", cwd=cwd, env=env)
    return out.strip()


@pytest.mark.install
@pytest.mark.timeout(600)  # a busy machine; alone it takes about half a minute
def test_make_setup_installs_every_lock_from_the_oldest_pip_the_readme_promises(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=IGNORED)
        else:
            shutil.copy2(source, project / name)
    # A make, a venv or a coverage run around this test must not leak into the copy's own run
    # (with coverage's variables, the copy's package would be measured as a second source).
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"} and not k.startswith(("COV_", "COVERAGE_"))
    }
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))
    )

    venv = project / ".venv"
    python = venv / "bin" / "python"
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter, not this venv
    _run(base, "-m", "venv", venv, cwd=project, env=env)
    oldest = _pins(ROOT / "requirements" / "pip-oldest.txt", "pip")
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--require-hashes", "-r", "requirements/pip-oldest.txt", cwd=project, env=env)  # fmt: skip
    assert _pip_version(python, project, env) == oldest

    _run("make", "--no-print-directory", "setup", cwd=project, env=env)

    assert _pip_version(python, project, env) == _pins(ROOT / "requirements" / "pip.txt", "pip")
    where = _run(python, "-c", "import skipcall_bridge; print(skipcall_bridge.__file__)",
                 cwd=tmp_path, env=env)  # fmt: skip
    assert Path(where.strip()).is_relative_to(project / "src")
    assert (venv / ".installed").exists()
