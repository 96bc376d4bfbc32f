"""`skipcall-bridge check-deploy --stack NAME`: the go-live check. Each secret the sources file
needs exists and has the shape its scheme needs (read, checked, never printed), and the API
key's secret answers Skipcall. Exit 1 when anything would fail a delivery."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from skipcall_bridge.aws.secrets import parse_signing_secrets, read_secret
from skipcall_bridge.cli.options import operator_environment, stack_options
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.runtime import current_runtime
from skipcall_bridge.settings import Settings
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.sources.catalog import Source, SourceCatalog, load_sources
from skipcall_bridge.sources.config import HookSecret, VerifyToken
from skipcall_bridge.verify.base import shared_secret


def check_deploy_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check-deploy",
        help="before go-live: every source's secret exists and has its scheme's shape, and "
        "the API key answers Skipcall (no value printed)",
    )
    stack_options(check)
    check.set_defaults(run=check_deploy)


@dataclass(frozen=True)
class Need:
    """One secret a source needs, and how its value is checked."""

    secret_id: str
    source: Source
    verify_token: bool = False  # a GET handshake's token, not the signing secret


def check_deploy(args: argparse.Namespace) -> int:
    if not getattr(args, "stack", None) and not args.dev:
        raise ConfigurationError("check-deploy needs --stack NAME (or --dev)")
    operator_environment(args)
    settings = Settings.from_environ()
    catalog = load_sources(settings.sources_config)
    where = args.stack or "make dev"
    print(f"{where} ({settings.aws_region}): {len(catalog.names)} sources from "
          f"{settings.sources_config}")  # fmt: skip
    failed = 0
    for need in _needs(catalog):
        problem = _secret_problem(need, settings.aws_region)
        label = f"{need.source.name} ({need.source.config.auth.scheme})"
        what = "verify token" if need.verify_token else "secret"
        if problem is None:
            print(f"  ok       {label:<34} {what} {need.secret_id}")
        else:
            failed += 1
            print(f"  FAILED   {label:<34} {what} {need.secret_id}: {problem}")
    api = _api_key_problem()
    if api is None:
        print(f"  ok       {'Skipcall API key':<34} answers Skipcall ({settings.skipcall_api_url})")
    else:
        failed += 1
        print(f"  FAILED   {'Skipcall API key':<34} {api}")
    if failed:
        print(f"{failed} to fix before senders are pointed at the stack", file=sys.stderr)
        return 1
    print("ready: every secret is in place and Skipcall answers")
    return 0


def _needs(catalog: SourceCatalog) -> list[Need]:
    needs = []
    for name in catalog.names:
        source = catalog.get(name)
        assert source is not None
        if source.secret_id:
            needs.append(Need(source.secret_id, source))
        handshake = source.config.handshake
        if isinstance(handshake, VerifyToken):
            needs.append(Need(handshake.secret_id, source, verify_token=True))
    return needs


def _secret_problem(need: Need, region: str | None) -> str | None:
    """What is wrong with the secret, in words (None: nothing). Its value is never shown."""
    try:
        values = parse_signing_secrets(read_secret(need.secret_id, region))
        for value in values:
            if need.verify_token:
                shared_secret(value)
            else:
                need.source.verifier.check_secret(value)
    except ConfigurationError as exc:
        handshake = need.source.config.handshake
        if isinstance(handshake, HookSecret) and handshake.keep and not need.verify_token:
            arm = f"skipcall-bridge sources arm {need.source.name} --minutes 10 --stack …"
            return f"{exc}; the sender's first handshake sets it: `{arm}`, then subscribe"
        return str(exc)
    return None


def _api_key_problem() -> str | None:
    try:
        users = current_runtime().skipcall.list_users(Deadline(15))
    except ConfigurationError as exc:
        return f"its secret: {exc}"
    if isinstance(users, CallFailed):
        return f"Skipcall did not answer as it should: {users.error.message}"
    return None
