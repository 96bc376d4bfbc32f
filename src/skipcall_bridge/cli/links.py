"""The verbs on what Skipcall holds for the sources: `links show|set|forget` (names linked to
sequences) and `members` (the users the API key sees)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from skipcall_bridge.acting.naming import CACHE_SECONDS
from skipcall_bridge.aws.links import DynamoDbLinks
from skipcall_bridge.cli.dead_letters import format_age
from skipcall_bridge.cli.options import operator_environment, stack_options, verb_stack_options
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.common.ports import SCOPE_SEPARATOR, scoped_name
from skipcall_bridge.runtime import current_runtime
from skipcall_bridge.settings import Settings
from skipcall_bridge.skipcall.models import CallFailed


def links_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    links = commands.add_parser(
        "links",
        help="see or settle which Skipcall sequence a target name stands for",
        description="A `target` name is created once and remembered in the link table "
        "(LINKS_TABLE). When a create's outcome is unknown, its name waits (SEQUENCE_PENDING) "
        "for a person: look in Skipcall, then `set` the id it has, or `forget` the name so the "
        "next event creates it.",
    )
    stack_options(links)
    verbs = links.add_subparsers(required=True, metavar="VERB")
    show = verbs.add_parser("show", help="what the table holds for a name")
    link = verbs.add_parser("set", help="the name stands for this sequence id")
    forget = verbs.add_parser("forget", help="forget the name: the next enrol creates it")
    for verb in (show, link, forget):
        verb.add_argument("name")
        whose = verb.add_mutually_exclusive_group()
        whose.add_argument(
            "--source",
            help="the source whose name it is (names belong to their source); without it or "
            "--shared, every source's names and the shared ones are searched",
        )
        whose.add_argument(
            "--shared",
            action="store_true",
            help="the shared name (sharedSequenceNames, and names created before names were "
            "scoped)",
        )
    link.add_argument("sequence_id")
    show.set_defaults(run=links_show)
    link.set_defaults(run=links_set)
    forget.set_defaults(run=links_forget)
    verb_stack_options(verbs)


def link_table(args: argparse.Namespace) -> DynamoDbLinks:
    operator_environment(args)
    settings = Settings.from_environ()
    if not settings.links_table:
        raise ConfigurationError("LINKS_TABLE is not set: names are kept per container")
    return DynamoDbLinks(settings.links_table, settings.aws_region)


class _NotFound(Exception):
    """No record of the name, or records in several scopes (the message says which)."""


def _key(table: DynamoDbLinks, args: argparse.Namespace) -> str:
    """The table's key for the name: in the scope asked for, else the one scope that holds it
    (named on stderr), else an error listing the scopes to choose from."""
    if args.source is not None or args.shared:
        return scoped_name(args.source, args.name)
    keys = table.keys_named(args.name)
    if len(keys) == 1:
        print(f"{args.name!r}: found as {_whose(keys[0])}", file=sys.stderr)
        return keys[0]
    if not keys:
        raise _NotFound(f"{args.name!r}: no record in any source (the next enrol creates it)")
    choices = "\n".join(f"  {_whose(key)}" for key in keys)
    raise _NotFound(
        f"{args.name!r} is a name in {len(keys)} scopes; say which with --source or --shared:"
        f"\n{choices}"
    )


def _named(
    args: argparse.Namespace, *, hint: str = "", said_as_an_error: bool = True
) -> tuple[DynamoDbLinks, str] | None:
    """The link table and the name's key in it; None once it is said that there is no key,
    or more than one (on stderr as an error, or on stdout as `show`'s answer)."""
    table = link_table(args)
    try:
        return table, _key(table, args)
    except _NotFound as found:
        if said_as_an_error:
            print(f"error: {found}{hint}", file=sys.stderr)
        else:
            print(found)
        return None


def _whose(key: str) -> str:
    scope, separator, _ = key.partition(SCOPE_SEPARATOR)
    return f"--source {scope}" if separator else "--shared"


def links_show(args: argparse.Namespace) -> int:
    named = _named(args, said_as_an_error=False)
    if named is None:
        return 1
    table, key = named
    link = table.lookup(key)
    if link is None:
        print(f"{args.name!r}: no record (the next enrol creates it)")
        return 1
    if link.sequence_id is not None:
        print(f"{args.name!r}: sequence {link.sequence_id}")
    elif link.state == "creating":
        age = format_age(time.time() - (link.claimed_at or 0))
        print(f"{args.name!r}: being created (claimed {age} ago)")
    else:
        print(f"{args.name!r}: unknown whether Skipcall created it; check, then `set` or `forget`")
    return 0


def links_set(args: argparse.Namespace) -> int:
    named = _named(args, hint="; a new link needs --source or --shared")
    if named is None:
        return 1
    table, key = named
    table.link(key, args.sequence_id)
    print(f"{args.name!r} -> sequence {args.sequence_id}")
    return 0


def links_forget(args: argparse.Namespace) -> int:
    named = _named(args)
    if named is None:
        return 1
    table, key = named
    if not table.forget(key):
        nothing = f"{args.name!r} ({_whose(key)}): no record, nothing forgotten"
        print(f"error: {nothing}", file=sys.stderr)
        return 1
    print(
        f"{args.name!r} forgotten: the next enrol creates it. Running receivers may still "
        f"enrol into the old id for up to {CACHE_SECONDS:.0f} s (what they read last): wait "
        "that long before replaying."
    )
    return 0


def members_command(args: argparse.Namespace) -> int:
    operator_environment(args)
    users = current_runtime().skipcall.list_users(Deadline(15))
    if isinstance(users, CallFailed):
        print(f"error: Skipcall did not list its users: {users.error.message}", file=sys.stderr)
        return 1
    rows = [("email", "name", "organizationMembershipId")]
    mapping = {}
    for user in users:
        if not isinstance(user, dict):
            continue
        member = user.get("organizationMembershipId") or user.get("id") or ""
        email = str(user.get("email") or "")
        name = " ".join(str(user.get(key) or "") for key in ("firstName", "lastName")).strip()
        rows.append((email, name, str(member)))
        if email and member:
            mapping[email.lower()] = str(member)
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for email, name, member in rows:
        print(f"{email:<{widths[0]}}  {name:<{widths[1]}}  {member}")
    print("\nFor a source (CRM owner ids can be added as keys too):")
    print(json.dumps({"members": mapping}, indent=2))
    return 0
