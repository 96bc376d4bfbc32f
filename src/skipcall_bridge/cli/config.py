"""The sources file's verbs: `schema` and `check-config` (every error, the secrets it needs, and
the template paths no sample event has)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from skipcall_bridge.common.errors import BridgeError, ConfigurationError
from skipcall_bridge.sources.catalog import Source, SourceCatalog, load_sources
from skipcall_bridge.sources.config import json_schema
from skipcall_bridge.sources.templates import EventMappingError


def schema_command(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def check_config(args: argparse.Namespace) -> int:
    catalog = load_sources(args.sources)
    print(f"{args.sources}: {len(catalog.names)} sources OK ({', '.join(catalog.names)})")
    print("Secrets Manager secrets it needs:")
    for secret_id in catalog.secret_ids():
        print(f"  {secret_id}")
    for warning in catalog.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    for warning in sample_warnings(catalog, args.samples, args.sample):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _contact_keys(source: Source, events: list[Any]) -> list[str]:
    from skipcall_bridge.sources.contact_keys import contact_key_warnings

    return contact_key_warnings(source, events)


def sample_warnings(catalog: SourceCatalog, directory: Path, given: list[str]) -> list[str]:
    """Template paths no sample has, per source with samples (sources without are skipped),
    and contact ids that are an event's rather than a person's (every source)."""
    from skipcall_bridge.cli.sample_paths import sample_events, unmatched

    files: dict[str, list[Path]] = {}
    for name in catalog.names:
        if (directory / f"{name}.json").is_file():
            files.setdefault(name, []).append(directory / f"{name}.json")
    for item in given:
        name, equals, file = item.partition("=")
        if not equals or catalog.get(name) is None:
            raise ConfigurationError(f"--sample {item!r}: SOURCE=FILE, with a source of the file")
        files.setdefault(name, []).append(Path(file))
    warnings = [
        f"{name}: {line}"
        for name in catalog.names
        if name not in files and (source := catalog.get(name)) is not None
        for line in _contact_keys(source, [])
    ]
    for name, paths in files.items():
        source = catalog.get(name)
        assert source is not None
        events: list[Any] = []
        for path in paths:
            try:
                events += sample_events(source, path.read_bytes())
            except (BridgeError, EventMappingError) as exc:
                warnings.append(f"{name}: sample {path} cannot be read: {exc}")
        if not events:
            warnings.append(f"{name}: the samples select no event (`events` or the body format?)")
            continue
        warnings += [f"{name}: {line}" for line in unmatched(source, events)]
        warnings += [f"{name}: {line}" for line in _contact_keys(source, events)]
    return warnings
