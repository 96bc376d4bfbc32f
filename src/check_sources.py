"""A build step of src/Makefile: refuse an invalid sources.json with check-config's message.

  check_sources.py SOURCES                   check with the packages this interpreter finds
  check_sources.py --lock LOCK SOURCES       the same, or exit 3 (checking nothing) when this
                                             interpreter lacks a version LOCK pins: the build
                                             then installs the lock to check with

Not shipped in the zip (the Makefile copies only the package and sources.json)."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

NOT_LOCKED = 3
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)")


def unlocked(lock: Path) -> list[str]:
    """The lock's pins that this interpreter does not have at that version."""
    missing = []
    for line in lock.read_text().splitlines():
        pin = PIN.match(line)
        if pin is None:
            continue
        name, version = pin.groups()
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            found = None
        if found != version:
            missing.append(f"{name}=={version} (found {found})")
    return missing


def check(sources: Path) -> None:
    # imported only once the versions are known to be the locked ones
    from skipcall_bridge.common.errors import ConfigurationError  # noqa: PLC0415
    from skipcall_bridge.sources.catalog import load_sources  # noqa: PLC0415

    try:
        catalog = load_sources(sources)
    except ConfigurationError as exc:
        sys.exit(f"error: {exc}")
    for warning in catalog.warnings():  # deployable, but verifying weakly: said, not refused
        print(f"warning: {warning}", file=sys.stderr)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["--lock"]:
        if unlocked(Path(arguments[1])):
            sys.exit(NOT_LOCKED)
        arguments = arguments[2:]
    check(Path(arguments[0]))
