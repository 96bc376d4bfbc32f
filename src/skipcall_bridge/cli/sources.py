"""`sources arm SOURCE --minutes N`: the window in which a `hook-secret` source keeps the secret
its next REST-hook handshake carries (a request nobody signed may then set the source's signing
secret, so only an operator opens it, for minutes, and the first handshake closes it)."""

from __future__ import annotations

import argparse
import time

from skipcall_bridge.aws.hook_secrets import AwsHookSecrets
from skipcall_bridge.aws.secrets import SecretsManagerStore
from skipcall_bridge.cli.options import operator_environment, stack_options, verb_stack_options
from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.settings import Settings
from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge.sources.config import HookSecret

MAX_MINUTES = 60  # a window is for one subscription, made while the operator watches


def sources_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sources = commands.add_parser(
        "sources",
        help="operate on a source of the deployed stack",
        description="arm: let the next REST-hook handshake (X-Hook-Secret) to SOURCE set its "
        "signing secret, within MINUTES; the first one closes the window.",
    )
    stack_options(sources)
    verbs = sources.add_subparsers(required=True, metavar="VERB")
    arm = verbs.add_parser("arm", help="keep the secret of the next hook-secret handshake")
    arm.add_argument("source")
    arm.add_argument("--minutes", type=int, default=10, help="how long the window stays open")
    arm.set_defaults(run=arm_source)
    verb_stack_options(verbs)


def arm_source(args: argparse.Namespace) -> int:
    operator_environment(args)
    settings = Settings.from_environ()
    catalog = load_sources(settings.sources_config)
    source = catalog.get(args.source)
    if source is None:
        raise ConfigurationError(f"no source named {args.source!r} in {settings.sources_config}")
    handshake = source.config.handshake
    if not isinstance(handshake, HookSecret) or not handshake.keep:
        raise ConfigurationError(
            f"{args.source}: its handshake keeps no secret (it needs "
            '"handshake": {"type": "hook-secret", "keep": true})'
        )
    if not 1 <= args.minutes <= MAX_MINUTES:
        raise ConfigurationError(f"--minutes is 1 to {MAX_MINUTES}")
    if not settings.idempotency_table or source.secret_id is None:
        raise ConfigurationError("IDEMPOTENCY_TABLE is not set: no window can be kept")
    secrets = SecretsManagerStore(settings.api_key_secret_id, 0, settings.aws_region)
    keeper = AwsHookSecrets(settings.idempotency_table, secrets, settings.aws_region)
    keeper.arm(source.name, time.time() + args.minutes * 60)
    print(
        f"armed: the next {handshake.header} handshake to {source.name} within "
        f"{args.minutes} minutes is kept as {source.secret_id}; the first one closes the window"
    )
    return 0
