"""`skipcall-bridge`: the operator's verbs, which work from the runtime package alone
(`check-config`, `schema`, `replay`, `dlq`, `members`, `links`), and, where the development
package is installed, its verbs too (`dev`, `sign`, `send`, `preview`, `events`).

Exit status: 0 on success; 1 when a sent delivery is not created (any answer but 201, or
Salesforce's Ack); 2 for usage or configuration errors (argparse's convention)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from skipcall_bridge.acting.naming import CACHE_SECONDS, scoped_name
from skipcall_bridge.aws.dead_letter import SqsDeadLetterQueue
from skipcall_bridge.aws.links import DynamoDbLinks
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.errors import BridgeError, ConfigurationError
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.common.observability import logger
from skipcall_bridge.letters.replay import OUTCOMES, ReplayFilter, ReplaySummary
from skipcall_bridge.runtime import current_runtime, replayer_of
from skipcall_bridge.settings import Settings
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.sources.catalog import SourceCatalog, json_schema, load_sources
from skipcall_bridge.sources.mapping import EventMappingError

DEFAULT_SOURCES = Path("sources.example.json")
EXTENSIONS = "skipcall_bridge.cli"  # the entry point group other packages extend this CLI by


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
    replay.set_defaults(run=_replay)

    _dlq_commands(commands)

    members = commands.add_parser(
        "members",
        help="the Skipcall users the API key sees, and a ready `members` map",
        description="List the Skipcall users (GET /v1/users, every page) with their "
        "organizationMembershipId, the id creatorId and assignedToIds take.",
    )
    stack_options(members)
    members.set_defaults(run=_members)

    _links_commands(commands)

    schema = commands.add_parser("schema", help="print the sources file's JSON Schema")
    schema.set_defaults(run=_schema)

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
    check.set_defaults(run=_check_config)

    add_commands = extension("commands")  # the development verbs, where they are installed
    if add_commands is not None:
        add_commands(commands)
    return parser


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


def _dlq_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = commands.add_parser(
        "dlq",
        help="read and delete dead letters without hiding them from the replay",
        description="Read the DLQ (the function's environment variables, or --dev). Messages "
        "read are released at once, so the replay still sees them.",
    )
    stack_options(dlq)
    verbs = dlq.add_subparsers(required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="one line per letter: id, source, reason, age, …")
    listing.add_argument("--source", help="only this source's letters")
    listing.add_argument("--reason", choices=[reason.value for reason in Reason])
    listing.set_defaults(run=_dlq_list)
    show = verbs.add_parser("show", help="one letter's envelope, as JSON")
    show.add_argument("message_id", help="the message id `dlq list` shows")
    show.set_defaults(run=_dlq_show)
    delete = verbs.add_parser("delete", help="delete one letter (e.g. a resolved OUTCOME_UNKNOWN)")
    delete.add_argument("message_id", help="the message id `dlq list` shows")
    delete.set_defaults(run=_dlq_delete)
    verb_stack_options(verbs)


def _links_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        verb.add_argument(
            "--source",
            help="the source whose name it is (names belong to their source); without it, "
            "the shared names (sharedSequenceNames, and names created before names were scoped)",
        )
    link.add_argument("sequence_id")
    show.set_defaults(run=_links_show)
    link.set_defaults(run=_links_set)
    forget.set_defaults(run=_links_forget)
    verb_stack_options(verbs)


def _replay(args: argparse.Namespace) -> int:
    operator_environment(args, quiet=not args.verbose)
    runtime = current_runtime()
    # Which sources file maps the letters again: a wrong one rewrites their errors.
    print(f"sources: {runtime.settings.sources_config}", file=sys.stderr)
    replayer = replayer_of(runtime)
    waiting = runtime.dead_letters.depth()
    total = min(waiting, args.max_messages) if args.max_messages is not None else waiting
    print(f"{waiting} dead letters waiting", file=sys.stderr)
    filters = ReplayFilter(
        source=args.source,
        reason=Reason(args.reason) if args.reason else None,
        max_messages=args.max_messages,
        dry_run=args.dry_run,
        include_unknown=args.include_unknown,
        include_given_up=args.include_given_up,
    )
    summary = replayer.run(filters, progress=lambda done: _progress(done, total))
    print(file=sys.stderr)
    print(summary_table(summary))
    return 0


def dead_letters(args: argparse.Namespace) -> SqsDeadLetterQueue:
    operator_environment(args)
    settings = Settings.from_environ()
    return SqsDeadLetterQueue(settings.dead_letter_queue_url, settings.aws_region)


def _dlq_list(args: argparse.Namespace) -> int:
    messages = dead_letters(args).browse()
    now = time.time()
    rows = [("message id", "source", "reason", "age", "attempts", "delivery id", "error")]
    for message in messages:
        letter = message.letter
        if letter is None:
            rows.append((message.message_id, "?", "not an envelope", "", "", "", ""))
            continue
        if (args.source and letter.source != args.source) or (
            args.reason and letter.reason != args.reason
        ):
            continue
        age = format_age(now - message.sent_at) if message.sent_at else ""
        error = f"{letter.error.code}: {letter.error.message}"
        rows.append((message.message_id, letter.source, letter.reason.value, age,
                     str(letter.attempts), letter.delivery_id, error[:60]))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = zip(row[:-1], widths, strict=True)
        print("  ".join(cell.ljust(width) for cell, width in cells) + "  " + row[-1])
    print(f"{len(rows) - 1} of {len(messages)} dead letters", file=sys.stderr)
    return 0


def _dlq_show(args: argparse.Namespace) -> int:
    for message in dead_letters(args).browse():
        if message.message_id == args.message_id:
            if message.letter is None:
                print(f"error: {args.message_id} is not an envelope", file=sys.stderr)
                return 1
            print(json.dumps(message.letter.model_dump(mode="json", by_alias=True), indent=2))
            return 0
    print(f"error: no dead letter {args.message_id}", file=sys.stderr)
    return 1


def _dlq_delete(args: argparse.Namespace) -> int:
    if dead_letters(args).delete_message(args.message_id):
        print(f"deleted {args.message_id}")
        return 0
    print(f"error: no dead letter {args.message_id}", file=sys.stderr)
    return 1


def _link_table(args: argparse.Namespace) -> DynamoDbLinks:
    operator_environment(args)
    settings = Settings.from_environ()
    if not settings.links_table:
        raise ConfigurationError("LINKS_TABLE is not set: names are kept per container")
    return DynamoDbLinks(settings.links_table, settings.aws_region)


def _links_show(args: argparse.Namespace) -> int:
    link = _link_table(args).lookup(scoped_name(args.source, args.name))
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


def _links_set(args: argparse.Namespace) -> int:
    _link_table(args).link(scoped_name(args.source, args.name), args.sequence_id)
    print(f"{args.name!r} -> sequence {args.sequence_id}")
    return 0


def _links_forget(args: argparse.Namespace) -> int:
    _link_table(args).forget(scoped_name(args.source, args.name))
    print(
        f"{args.name!r} forgotten: the next enrol creates it. Running receivers may still "
        f"enrol into the old id for up to {CACHE_SECONDS:.0f} s (what they read last): wait "
        "that long before replaying."
    )
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def _members(args: argparse.Namespace) -> int:
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


def format_age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _progress(done: int, total: int) -> None:
    total = max(total, done)
    filled = round(30 * done / total) if total else 30
    print(
        f"\rreplaying [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr
    )


def _check_config(args: argparse.Namespace) -> int:
    catalog = load_sources(args.sources)
    print(f"{args.sources}: {len(catalog.names)} sources OK ({', '.join(catalog.names)})")
    print("Secrets Manager secrets it needs:")
    for secret_id in catalog.secret_ids():
        print(f"  {secret_id}")
    for warning in catalog.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    for warning in _sample_warnings(catalog, args.samples, args.sample):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _sample_warnings(catalog: SourceCatalog, directory: Path, given: list[str]) -> list[str]:
    """Template paths no sample has, per source with samples (sources without are skipped)."""
    from skipcall_bridge.sources.sample_paths import sample_events, unmatched

    files: dict[str, list[Path]] = {}
    for name in catalog.names:
        if (directory / f"{name}.json").is_file():
            files.setdefault(name, []).append(directory / f"{name}.json")
    for item in given:
        name, equals, file = item.partition("=")
        if not equals or catalog.get(name) is None:
            raise ConfigurationError(f"--sample {item!r}: SOURCE=FILE, with a source of the file")
        files.setdefault(name, []).append(Path(file))
    warnings = []
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
    return warnings


def summary_table(summary: ReplaySummary) -> str:
    """A replay's outcomes by reason (a failure under the reason it failed with)."""
    shown = [o for o in OUTCOMES if summary.total(o)] or ["replayed"]
    reasons = sorted({reason for reason, _ in summary.counts})
    width = max([len("reason"), *map(len, reasons)])
    lines = [f"{'reason':<{width}}  " + "  ".join(f"{o:>15}" for o in shown)]
    for reason in reasons:
        cells = "  ".join(f"{summary.counts[(reason, o)]:>15}" for o in shown)
        lines.append(f"{reason:<{width}}  {cells}")
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{summary.total(o):>15}" for o in shown))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
