"""The dead-letter verbs: `replay` (with its progress bar and summary table) and `dlq
list|show|delete`."""

from __future__ import annotations

import argparse
import json
import sys
import time

from skipcall_bridge.aws.dead_letter import SqsDeadLetterQueue
from skipcall_bridge.cli.options import (
    extension,
    operator_environment,
    stack_options,
    verb_stack_options,
)
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.letters.replay import OUTCOMES, ReplayFilter, ReplaySummary
from skipcall_bridge.runtime import current_runtime, replayer_of
from skipcall_bridge.settings import Settings


def dlq_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    listing.set_defaults(run=dlq_list)
    show = verbs.add_parser("show", help="one letter's envelope, as JSON")
    show.add_argument("message_id", help="the message id `dlq list` shows")
    show.set_defaults(run=dlq_show)
    delete = verbs.add_parser("delete", help="delete one letter (e.g. a resolved OUTCOME_UNKNOWN)")
    delete.add_argument("message_id", help="the message id `dlq list` shows")
    delete.set_defaults(run=dlq_delete)
    verb_stack_options(verbs)


def replay_command(args: argparse.Namespace) -> int:
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
    summary = replayer.run(filters, progress=lambda done: progress(done, total))
    print(file=sys.stderr)
    print(summary_table(summary))
    for line in would_fail_lines(summary):
        print(line)
    report = extension("dev-replays") if args.dev else None
    if report is not None:  # `make dev`'s console and inspector show the run
        report([list(letter) for letter in summary.letters])
    return 0


def would_fail_lines(summary: ReplaySummary) -> list[str]:
    """A dry run's letters that would fail to map again, and why (`preview --letter` shows one
    whole)."""
    if not summary.would_fail:
        return []
    lines = ["", "would fail again (mapped with the current sources):"]
    lines += [f"  {source} {delivery_id}: {why}" for source, delivery_id, why in summary.would_fail]
    return lines


def dead_letters(args: argparse.Namespace) -> SqsDeadLetterQueue:
    operator_environment(args)
    settings = Settings.from_environ()
    return SqsDeadLetterQueue(settings.dead_letter_queue_url, settings.aws_region)


def dlq_list(args: argparse.Namespace) -> int:
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
        error = shortened(f"{letter.error.code}: {letter.error.message}", ERROR_COLUMN)
        rows.append((message.message_id, letter.source, letter.reason.value, age,
                     str(letter.attempts), letter.delivery_id, error))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = zip(row[:-1], widths, strict=True)
        print("  ".join(cell.ljust(width) for cell, width in cells) + "  " + row[-1])
    sys.stdout.flush()  # the table before the count: stdout may be a pipe, stderr is not
    print(f"\n{len(rows) - 1} of {len(messages)} dead letters shown", file=sys.stderr)
    if any(row[-1].endswith("…") for row in rows):
        print("an error cut short (…) is whole in `dlq show ID`", file=sys.stderr)
    return 0


ERROR_COLUMN = 60


def shortened(text: str, width: int) -> str:
    """The text, or its first characters and an ellipsis: a cut is never silent."""
    return text if len(text) <= width else text[: width - 1] + "…"


def dlq_show(args: argparse.Namespace) -> int:
    for message in dead_letters(args).browse():
        if message.message_id == args.message_id:
            if message.letter is None:
                print(f"error: {args.message_id} is not an envelope", file=sys.stderr)
                return 1
            print(json.dumps(message.letter.model_dump(mode="json", by_alias=True), indent=2))
            return 0
    print(f"error: no dead letter {args.message_id}", file=sys.stderr)
    return 1


def dlq_delete(args: argparse.Namespace) -> int:
    if dead_letters(args).delete_message(args.message_id):
        print(f"deleted {args.message_id}")
        return 0
    print(f"error: no dead letter {args.message_id}", file=sys.stderr)
    return 1


def format_age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def progress(done: int, total: int) -> None:
    total = max(total, done)
    filled = round(30 * done / total) if total else 30
    print(
        f"\rreplaying [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr
    )


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
