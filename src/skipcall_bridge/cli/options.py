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
DEPLOYED_SOURCES = Path("src") / "sources.json"  # what `make build` packages when it exists
# your own guided-deploy answers (git-ignored) when present, else the committed file
SAMCONFIGS = (Path("samconfig.local.toml"), Path("samconfig.toml"))


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
    """Which stack an operator's command reaches: the function's environment, a deployed stack
    (`--stack NAME`), or `make dev`. After a verb (`dlq list --dev`, as the docs write it) the
    options have no default: unset there, they leave what was given before the verb (argparse
    would let a verb's default win)."""
    unset: Any = argparse.SUPPRESS if after_verb else None
    command.add_argument(
        "--dev",
        action="store_true",
        default=argparse.SUPPRESS if after_verb else False,
        help="the local `make dev` stack",
    )
    command.add_argument(
        "--stack",
        default=unset,
        metavar="NAME",
        help="a deployed stack: its outputs and parameters, read from CloudFormation, stand "
        "for the function's environment variables",
    )
    command.add_argument(
        "--region",
        default=unset,
        help="with --stack (default: samconfig.local.toml's or samconfig.toml's, else AWS_REGION)",
    )
    command.add_argument(
        "--sources",
        type=Path,
        default=unset,
        help=f"with --dev or --stack (default: {DEPLOYED_SOURCES} when it exists, else "
        f"{DEFAULT_SOURCES}, as `make dev` and `make build` take)",
    )


def verb_stack_options(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for verb in verbs.choices.values():
        stack_options(verb, after_verb=True)


def operator_environment(args: argparse.Namespace, quiet: bool = True) -> None:
    """The environment the command reads, and its logs kept to warnings (the command prints
    what matters)."""
    stack = getattr(args, "stack", None)
    if args.dev and stack:
        raise ConfigurationError("--dev or --stack, not both")
    if args.dev:
        dev_stack_environment = extension("dev-environment")
        if dev_stack_environment is None:
            raise ConfigurationError("--dev needs the development package (pip install -e .)")
        os.environ.update(dev_stack_environment(sources_file(args)))
    elif stack:
        from skipcall_bridge.aws.stack_outputs import stack_environment

        region = getattr(args, "region", None) or deployed_region()
        os.environ.update(stack_environment(stack, region))
        os.environ["SOURCES_CONFIG"] = str(sources_file(args).resolve())
    if quiet:
        logger.setLevel("WARNING")


def sources_file(args: argparse.Namespace) -> Path:
    """The sources file `--dev` and `--stack` map with: the one given, else the deployed one."""
    given: Path | None = getattr(args, "sources", None)
    if given is not None:
        return given
    return DEPLOYED_SOURCES if DEPLOYED_SOURCES.is_file() else DEFAULT_SOURCES


def deployed_region(samconfigs: tuple[Path, ...] = SAMCONFIGS) -> str:
    """The region `sam deploy` deploys to (samconfig.local.toml or samconfig.toml, as the
    guided deploy saves it), else the AWS configuration's."""
    import tomllib

    for samconfig in samconfigs:
        try:
            config = tomllib.loads(samconfig.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue
        default = config.get("default", {})
        for command in ("deploy", "global"):
            region = default.get(command, {}).get("parameters", {}).get("region")
            if isinstance(region, str) and region:
                return region
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigurationError(
            "which region is the stack in? --region, or `region` in samconfig.toml"
        )
    return region
