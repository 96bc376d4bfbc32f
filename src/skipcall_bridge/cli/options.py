"""Which stack an operator's command reaches (the function's environment, or `make dev`'s),
and what an installed package adds to the command (entry point group `skipcall_bridge.cli`)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.common.observability import logger

DEFAULT_SOURCES = Path("sources.example.json")


EXTENSIONS = "skipcall_bridge.cli"  # the entry point group other packages extend this CLI by


def extension(name: str) -> Callable[..., Any] | None:
    """What an installed package adds to this CLI under `name` (entry point group
    `skipcall_bridge.cli`), or None: the runtime never imports the development package."""
    found = entry_points(group=EXTENSIONS, name=name)
    for point in found:
        try:
            loaded: Callable[..., Any] = point.load()
        except ImportError:  # declared by metadata left behind, without its package
            return None
        return loaded
    return None


def stack_options(command: argparse.ArgumentParser, *, after_verb: bool = False) -> None:
    """Which stack an operator's command reaches: the function's environment, or `make dev`.
    After a verb (`dlq list --dev`, as the docs write it) the options have no default: unset
    there, they leave what was given before the verb (argparse would let a verb's default win)."""
    dev_default: Any = argparse.SUPPRESS if after_verb else False
    sources_default: Any = argparse.SUPPRESS if after_verb else DEFAULT_SOURCES
    command.add_argument(
        "--dev", action="store_true", default=dev_default, help="the local `make dev` stack"
    )
    command.add_argument("--sources", type=Path, default=sources_default, help="with --dev")


def verb_stack_options(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb in verbs.choices.values():
        stack_options(verb, after_verb=True)


def operator_environment(args: argparse.Namespace, quiet: bool = True) -> None:
    """The environment the command reads, and its logs kept to warnings (the command prints
    what matters)."""
    if args.dev:
        dev_stack_environment = extension("dev-environment")
        if dev_stack_environment is None:
            raise ConfigurationError("--dev needs the development package (pip install -e .)")
        os.environ.update(dev_stack_environment(args.sources))
    if quiet:
        logger.setLevel("WARNING")
