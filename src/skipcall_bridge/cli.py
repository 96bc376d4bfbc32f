"""`skipcall-bridge`: the local stack, signing and sending, sample events, configuration checks,
the DLQ replay, and reading or deleting dead letters.

Exit status: 0 on success; 1 when a sent delivery is not created (any answer but 201, or
Salesforce's Ack); 2 for usage or configuration errors (argparse's convention)."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import urllib3

from skipcall_bridge.aws.dead_letter import SqsDeadLetterQueue
from skipcall_bridge.aws.links import DynamoDbLinks
from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import DeadLetter, Reason
from skipcall_bridge.errors import ConfigurationError
from skipcall_bridge.local import devdata
from skipcall_bridge.local.console import delivery_line
from skipcall_bridge.local.events import write_events
from skipcall_bridge.local.inspector import Exchange
from skipcall_bridge.local.preview import preview
from skipcall_bridge.local.samples import SignedSample, curl_command, sample_body, sign_sample
from skipcall_bridge.local.stack import LocalStack, dev_stack_environment
from skipcall_bridge.observability import logger
from skipcall_bridge.replay import Replayer, ReplayFilter
from skipcall_bridge.runtime import current_runtime
from skipcall_bridge.settings import Settings
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.sources import SourceCatalog, json_schema, load_sources

DEFAULT_SOURCES = Path("sources.example.json")


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

    dev = commands.add_parser("dev", help="run the receiver locally on moto and the sandbox")
    dev.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--gateway-port", type=int, default=3000)
    dev.add_argument("--sandbox-port", type=int, default=4010)
    dev.add_argument("--moto-port", type=int, default=5000)
    dev.add_argument("--json", action="store_true", help="print the endpoints as one JSON line")
    dev.add_argument(
        "--verbose", action="store_true", help="the handler's JSON logs and metrics too"
    )
    dev.set_defaults(run=_dev)

    sign = commands.add_parser("sign", help="print the URL and headers a sender would send")
    sign.add_argument("source", help="source name in the sources file")
    sign.add_argument("body", type=Path, help="file holding the exact body to send")
    _signing_options(sign)
    sign.set_defaults(run=_sign)

    send = commands.add_parser("send", help="sign a body as the sender would and POST it")
    send.add_argument("source", help="source name in the sources file")
    send.add_argument("body", type=Path, help="file holding the exact body to send")
    _signing_options(send)
    send.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    send.set_defaults(run=_send)

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
    _stack_options(replay)
    replay.set_defaults(run=_replay)

    _dlq_commands(commands)

    members = commands.add_parser(
        "members",
        help="the Skipcall users the API key sees, and a ready `members` map",
        description="List the Skipcall users (GET /v1/users, every page) with their "
        "organizationMembershipId, the id creatorId and assignedToIds take.",
    )
    _stack_options(members)
    members.set_defaults(run=_members)

    _preview_command(commands)
    _links_commands(commands)

    schema = commands.add_parser("schema", help="print the sources file's JSON Schema")
    schema.set_defaults(run=_schema)

    check = commands.add_parser("check-config", help="validate a sources file")
    check.add_argument("sources", type=Path, nargs="?", default=DEFAULT_SOURCES)
    check.set_defaults(run=_check_config)

    events = commands.add_parser("events", help="write signed sample events for sam local")
    events.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    events.add_argument("--out", type=Path, default=Path("events"))
    events.set_defaults(run=_events)
    return parser


def _stack_options(command: argparse.ArgumentParser) -> None:
    """Which stack an operator's command reaches: the function's environment, or `make dev`."""
    command.add_argument("--dev", action="store_true", help="the local `make dev` stack")
    command.add_argument("--sources", type=Path, default=DEFAULT_SOURCES, help="with --dev")


def _operator_environment(args: argparse.Namespace, quiet: bool = True) -> None:
    """The environment the command reads, and its logs kept to warnings (the command prints
    what matters)."""
    if args.dev:
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
    _stack_options(dlq)
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


def _links_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    links = commands.add_parser(
        "links",
        help="see or settle which Skipcall sequence a target name stands for",
        description="A `target` name is created once and remembered in the link table "
        "(LINKS_TABLE). When a create's outcome is unknown, its name waits (SEQUENCE_PENDING) "
        "for a person: look in Skipcall, then `set` the id it has, or `forget` the name so the "
        "next event creates it.",
    )
    _stack_options(links)
    verbs = links.add_subparsers(required=True, metavar="VERB")
    show = verbs.add_parser("show", help="what the table holds for a name")
    show.add_argument("name")
    show.set_defaults(run=_links_show)
    link = verbs.add_parser("set", help="the name stands for this sequence id")
    link.add_argument("name")
    link.add_argument("sequence_id")
    link.set_defaults(run=_links_set)
    forget = verbs.add_parser("forget", help="forget the name: the next enrol creates it")
    forget.add_argument("name")
    forget.set_defaults(run=_links_forget)


def _preview_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    preview = commands.add_parser(
        "preview",
        help="what a payload would become, event by event; nothing is sent",
        description="Map a payload (or a dead letter, --letter) with a source, as the receiver "
        "would: per event the delivery id, the DTO or the field errors, and the identity "
        "lookups it would make. --headers also checks the signature with the dev secret.",
    )
    preview.add_argument("source", help="source name in the sources file")
    preview.add_argument(
        "file",
        help="the body; with --letter a dead letter (`dlq show`'s output), or with --letter "
        "--dev the message id of one in the local stack's DLQ",
    )
    preview.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    preview.add_argument("--letter", action="store_true", help="FILE is a dead letter")
    preview.add_argument("--dev", action="store_true", help="the local `make dev` stack")
    preview.add_argument(
        "--headers",
        type=Path,
        help="the request's headers (`Name: value` lines), or the raw HTTP request "
        "(request line, headers, blank line, body: its path and body are used too)",
    )
    preview.add_argument("--url", help="the URL the sender called (HubSpot signs it)")
    preview.add_argument(
        "--send", action="store_true", help="then deliver it, signed, to the local stack (--url)"
    )
    preview.set_defaults(run=_preview)


def _dev(args: argparse.Namespace) -> int:
    stack = LocalStack(
        args.sources,
        host=args.host,
        gateway_port=args.gateway_port,
        sandbox_port=args.sandbox_port,
        moto_port=args.moto_port,
    )
    stopping = threading.Event()
    # Ctrl-C and a plain kill both stop every server (SIGINT may be ignored in background jobs,
    # so it is handled explicitly rather than through KeyboardInterrupt).
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stopping.set())
    # Reload notices: beside the endpoints, or on stderr when stdout carries the JSON line.
    stream = sys.stderr if args.json else sys.stdout
    colour = sys.stdout.isatty()

    def console(exchange: Exchange) -> None:
        if not args.json and not args.verbose and not exchange.path.startswith("/_inspect"):
            print(
                delivery_line(exchange.path, exchange.result, exchange.seconds, colour), flush=True
            )

    # One console line per delivery instead of the handler's JSON logs and EMF (--verbose keeps
    # them); what the handler logs on Lambda does not change.
    endpoints = stack.start(
        say=lambda text: print(text, file=stream, flush=True),
        console=console,
        quiet=not args.verbose,
    )
    try:
        if args.json:
            print(json.dumps(endpoints.__dict__), flush=True)
        else:
            catalog = load_sources(args.sources)
            print(f"sources    {args.sources}  (edits are picked up while it runs)")
            print(f"receiver   {endpoints.gateway}/webhooks/{{source}}")
            for name in catalog.names:
                print(_dev_credential(catalog, name, endpoints.gateway))
            print(f"health     {endpoints.gateway}/health")
            print(f"sandbox    {endpoints.sandbox}  (state: {endpoints.sandbox}/_sandbox/state)")
            print(f"moto       {endpoints.moto}")
            print(f"DLQ        {endpoints.queue_url}")
            if "zapier" in catalog.names:
                sample = sign_sample(
                    catalog, "zapier", sample_body("zapier"), url=endpoints.gateway
                )
                print("\nCreate a sequence:\n  " + curl_command(sample))
            print("\nCtrl-C stops everything.", flush=True)
        stopping.wait()
    finally:
        stack.stop()
    return 0


def _dev_credential(catalog: SourceCatalog, name: str, gateway: str) -> str:
    """One source's URL and its dev credential, in the form a person pastes into the sender."""
    source = catalog.get(name)
    assert source is not None
    auth = source.config.auth
    secret = devdata.signing_secret(source.secret_id, auth.scheme)
    url = f"{gateway}/webhooks/{name}"
    if auth.scheme == "basic":
        credential = f"basic auth   {secret}"
    elif auth.scheme == "bearer":
        header = getattr(auth, "header", None)
        credential = f"{header}: {secret}" if header else f"Authorization: Bearer {secret}"
    elif auth.scheme == "salesforce":
        url, credential = source.verifier.signed_url(url, secret), "the token is in the URL"
    else:
        credential = f"signing secret   {secret}"
    return f"  {name:<18} {url}\n  {'':<18} {credential}"


def _signing_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    command.add_argument("--secret", help="signing secret (default: the local stack's dev secret)")
    command.add_argument(
        "--url", default="http://127.0.0.1:3000", help="receiver base URL (default: make dev's)"
    )


def _signed(args: argparse.Namespace) -> SignedSample:
    catalog = load_sources(args.sources)
    if catalog.get(args.source) is None:
        raise ConfigurationError(f"no source {args.source!r} in {args.sources}")
    body = args.body.read_bytes()
    return sign_sample(catalog, args.source, body, url=args.url, secret=args.secret)


def _sign(args: argparse.Namespace) -> int:
    sample = _signed(args)
    print(f"POST {sample.url}")
    for name, value in sample.headers.items():
        print(f"{name}: {value}")
    return 0


def _send(args: argparse.Namespace) -> int:
    return _deliver(_signed(args), timeout=args.timeout)


def _deliver(sample: SignedSample, timeout: float) -> int:
    try:
        response = urllib3.request(
            "POST", sample.url, body=sample.body, headers=sample.headers, timeout=timeout
        )
    except urllib3.exceptions.HTTPError as exc:
        print(f"error: {sample.url}: {exc}", file=sys.stderr)
        return 1
    print(f"HTTP {response.status}")
    answer = response.data.decode("utf-8", errors="replace")
    print(answer)
    # Success is "created": a 202 (dead-lettered), a 200 "ignored" or a 4xx all say the mapping
    # or Skipcall needs a look. Salesforce's Ack is the one 200 it ever gets.
    created = response.status == 201 or (response.status == 200 and "<Ack>true</Ack>" in answer)
    return 0 if created else 1


def _replay(args: argparse.Namespace) -> int:
    _operator_environment(args, quiet=not args.verbose)
    runtime = current_runtime()
    replayer = Replayer.from_runtime(runtime)
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
    print(summary.table())
    return 0


def _dead_letters(args: argparse.Namespace) -> SqsDeadLetterQueue:
    _operator_environment(args)
    settings = Settings.from_environ()
    return SqsDeadLetterQueue(settings.dead_letter_queue_url, settings.aws_region)


def _dlq_list(args: argparse.Namespace) -> int:
    messages = _dead_letters(args).browse()
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
        age = _age(now - message.sent_at) if message.sent_at else ""
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
    for message in _dead_letters(args).browse():
        if message.message_id == args.message_id:
            if message.letter is None:
                print(f"error: {args.message_id} is not an envelope", file=sys.stderr)
                return 1
            print(json.dumps(message.letter.model_dump(mode="json", by_alias=True), indent=2))
            return 0
    print(f"error: no dead letter {args.message_id}", file=sys.stderr)
    return 1


def _dlq_delete(args: argparse.Namespace) -> int:
    if _dead_letters(args).delete_message(args.message_id):
        print(f"deleted {args.message_id}")
        return 0
    print(f"error: no dead letter {args.message_id}", file=sys.stderr)
    return 1


def _link_table(args: argparse.Namespace) -> DynamoDbLinks:
    _operator_environment(args)
    settings = Settings.from_environ()
    if not settings.links_table:
        raise ConfigurationError("LINKS_TABLE is not set: names are kept per container")
    return DynamoDbLinks(settings.links_table, settings.aws_region)


def _links_show(args: argparse.Namespace) -> int:
    link = _link_table(args).lookup(args.name)
    if link is None:
        print(f"{args.name!r}: no record (the next enrol creates it)")
        return 1
    if link.sequence_id is not None:
        print(f"{args.name!r}: sequence {link.sequence_id}")
    elif link.state == "creating":
        age = _age(time.time() - (link.claimed_at or 0))
        print(f"{args.name!r}: being created (claimed {age} ago)")
    else:
        print(f"{args.name!r}: unknown whether Skipcall created it; check, then `set` or `forget`")
    return 0


def _links_set(args: argparse.Namespace) -> int:
    _link_table(args).link(args.name, args.sequence_id)
    print(f"{args.name!r} -> sequence {args.sequence_id}")
    return 0


def _links_forget(args: argparse.Namespace) -> int:
    _link_table(args).forget(args.name)
    print(f"{args.name!r} forgotten: the next enrol creates it")
    return 0


def _preview(args: argparse.Namespace) -> int:
    catalog = load_sources(args.sources)
    source = catalog.get(args.source)
    if source is None:
        raise ConfigurationError(f"no source {args.source!r} in {args.sources}")
    letter = _letter_to_preview(args) if args.letter else None
    body = (
        Path(args.file).read_bytes()
        if letter is None
        else letter.stored_body() or json.dumps(letter.payload).encode()
    )
    headers, path, request_body = (
        _http_request(args.headers.read_bytes()) if args.headers else (None, None, None)
    )
    gateway = f"http://127.0.0.1:{devdata.GATEWAY_PORT}"
    url = args.url or gateway + (path or f"/webhooks/{args.source}")
    body = request_body if request_body else body
    for line in preview(source, body, letter=letter, headers=headers, url=url):
        print(line)
    if not args.send:
        return 0
    gateway = url.rsplit("/webhooks/", 1)[0]
    return _deliver(sign_sample(catalog, args.source, body, url=gateway), timeout=30.0)


def _letter_to_preview(args: argparse.Namespace) -> DeadLetter:
    if not args.dev:
        return DeadLetter.model_validate_json(Path(args.file).read_bytes())
    for message in _dead_letters(args).browse():
        if message.message_id == args.file and message.letter is not None:
            return message.letter
    raise ConfigurationError(f"no dead letter {args.file} in the local stack's DLQ")


def _http_request(raw: bytes) -> tuple[dict[str, str], str | None, bytes | None]:
    """`Name: value` lines, or a raw request: (headers, path or None, body or None)."""
    head, separator, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = head.decode("utf-8", errors="replace").splitlines()
    path = None
    if lines and re.match(r"^[A-Z]+ \S+ HTTP/[0-9.]+$", lines[0]):
        path = lines.pop(0).split()[1]
    headers = {
        name.strip(): value.strip()
        for name, _, value in (line.partition(":") for line in lines if ":" in line)
    }
    return headers, path, (body if separator and path else None)


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def _members(args: argparse.Namespace) -> int:
    _operator_environment(args)
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


def _age(seconds: float) -> str:
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
    return 0


def _events(args: argparse.Namespace) -> int:
    for path in write_events(args.sources, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
