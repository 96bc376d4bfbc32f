"""`skipcall-bridge`: the operator's verbs, which work from the runtime package alone
(`check-config`, `schema`, `replay`, `dlq`, `members`, `links`, `sources arm`,
`check-deploy`), and, where the development
package is installed, its verbs too (`dev`, `sign`, `send`, `preview`, `events`).

Exit status: 0 on success; 1 when a sent delivery is not created (any answer but 201, or
Salesforce's Ack); 2 for usage or configuration errors (argparse's convention)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from skipcall_bridge.cli.config import check_config, schema_command
from skipcall_bridge.cli.dead_letters import dlq_commands, replay_command
from skipcall_bridge.cli.deploy_check import check_deploy_commands
from skipcall_bridge.cli.links import links_commands, members_command
from skipcall_bridge.cli.options import DEFAULT_SOURCES, extension, stack_options
from skipcall_bridge.cli.sources import sources_commands
from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.common.failures import Reason


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an unreadable file, or a port already taken
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skipcall-bridge", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    replay = commands.add_parser(
        "replay",
        help="send dead letters to Skipcall again",
        description="Replay the DLQ, configured by the same environment variables as the "
        "function (or --dev for the stack `make dev` runs).",
    )
    replay.add_argument("--source", help="only this source's letters")
    replay.add_argument("--reason", choices=[reason.value for reason in Reason])
    replay.add_argument("--max", type=int, dest="max_messages", help="at most this many")
    replay.add_argument("--dry-run", action="store_true", help="show what it would do")
    replay.add_argument(
        "--include-unknown",
        action="store_true",
        help="also OUTCOME_UNKNOWN letters (check first that Skipcall has not created them)",
    )
    replay.add_argument(
        "--include-given-up",
        action="store_true",
        help="also letters kept after the maximum of failed replay runs, once more",
    )
    replay.add_argument("--verbose", action="store_true", help="print the JSON log lines too")
    stack_options(replay)
    replay.set_defaults(run=replay_command)

    dlq_commands(commands)

    members = commands.add_parser(
        "members",
        help="the Skipcall users the API key sees, and a ready `members` map",
        description="List the Skipcall users (GET /v1/users, every page) with their "
        "organizationMembershipId, the id creatorId and assignedToIds take.",
    )
    stack_options(members)
    members.set_defaults(run=members_command)

    links_commands(commands)
    sources_commands(commands)
    check_deploy_commands(commands)

    schema = commands.add_parser("schema", help="print the sources file's JSON Schema")
    schema.set_defaults(run=schema_command)

    check = commands.add_parser(
        "check-config",
        help="validate a sources file",
        description="Validate a sources file (every error, every source), list the secrets it "
        "needs, and warn of each template field path that no sample event has (a typo): the "
        "samples are SAMPLES/<source>.json (what `make events` writes) and --sample files.",
    )
    check.add_argument("sources", type=Path, nargs="?", default=DEFAULT_SOURCES)
    check.add_argument(
        "--samples",
        type=Path,
        default=Path("events"),
        help="a directory of <source>.json samples (default: %(default)s)",
    )
    check.add_argument(
        "--sample", action="append", default=[], metavar="SOURCE=FILE",
        help="a sample body (or API Gateway event) for SOURCE; may be repeated",
    )  # fmt: skip
    check.set_defaults(run=check_config)

    add_commands = extension("commands")  # the development verbs, where they are installed
    if add_commands is not None:
        add_commands(commands)
    return parser
