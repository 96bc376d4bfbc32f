"""A build step of src/Makefile: refuse an invalid sources.json with check-config's message.

Not shipped in the zip (the Makefile copies only the package and sources.json)."""

from __future__ import annotations

import sys
from pathlib import Path

from skipcall_bridge.errors import ConfigurationError
from skipcall_bridge.sources import load_sources

if __name__ == "__main__":
    try:
        catalog = load_sources(Path(sys.argv[1]))
    except ConfigurationError as exc:
        sys.exit(f"error: {exc}")
    for warning in catalog.warnings():  # deployable, but verifying weakly: said, not refused
        print(f"warning: {warning}", file=sys.stderr)
