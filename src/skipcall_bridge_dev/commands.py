"""The CLI's development verbs: `dev` (the local stack), `sign` and `send` (as a sender would),
`preview` (what a payload would become) and `events` (signed samples for `sam local invoke`)."""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

import urllib3

from skipcall_bridge.cli.dead_letters import dead_letters
from skipcall_bridge.cli.options import DEFAULT_SOURCES
from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.common.errors import ConfigurationError, InvalidSignature
from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge_dev import devdata
from skipcall_bridge_dev.console import delivery_line
from skipcall_bridge_dev.dev_keys import dev_credential
from skipcall_bridge_dev.devdata import running_stack
from skipcall_bridge_dev.events import write_events
from skipcall_bridge_dev.inspector import Exchange
from skipcall_bridge_dev.preview import preview_report
from skipcall_bridge_dev.samples import SignedSample, curl_command, sample_body, sign_sample
from skipcall_bridge_dev.stack import LocalStack


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = commands.add_parser("dev", help="run the receiver locally on moto and the sandbox")
    dev.add_argument(
        "--sources",
        type=Path,
        default=DEFAULT_SOURCES,
        help="the sources file, reloaded when it changes (default: %(default)s)",
    )
    dev.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address the gateway, sandbox and inspector bind (moto: 127.0.0.1 always; "
        "default %(default)s)",
    )
    dev.add_argument(
        "--gateway-port",
        type=int,
        default=devdata.GATEWAY_PORT,
        help="where senders post (default %(default)s)",
    )
    dev.add_argument(
        "--sandbox-port",
        type=int,
        default=devdata.SANDBOX_PORT,
        help="the Skipcall sandbox (default %(default)s)",
    )
    dev.add_argument("--moto-port", type=int, default=devdata.MOTO_PORT,
                     help="moto, the AWS services (default %(default)s)")  # fmt: skip
    dev.add_argument("--json", action="store_true", help="print the endpoints as one JSON line")
    dev.add_argument(
        "--verbose", action="store_true", help="the handler's JSON logs and metrics too"
    )
    dev.set_defaults(run=_dev)

    secret = commands.add_parser(
        "secret",
        help="print a source's URL and dev credential on the running `make dev` (never a "
        "deployed stack's: those stay in Secrets Manager)",
    )
    secret.add_argument("source", help="source name in the sources file")
    secret.add_argument("--dev", action="store_true", help="the local `make dev` stack")
    secret.add_argument(
        "--sources", type=Path, help=f"default: the running stack's, else {DEFAULT_SOURCES}"
    )
    secret.set_defaults(run=_secret)

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

    events = commands.add_parser("events", help="write signed sample events for sam local")
    events.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    events.add_argument("--out", type=Path, default=Path("events"))
    events.set_defaults(run=_events)
    _preview_command(commands)


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
            line = delivery_line(exchange.path, exchange.result, exchange.seconds, colour)
            why = f"\n          why: {exchange.refusal}" if exchange.refusal else ""
            print(line + why, flush=True)

    # This stack's own dev secrets (devdata.salt): drawn here unless the environment names a
    # salt (empty: the fixed values the samples in events/ were signed with).
    os.environ.setdefault(devdata.SALT_VARIABLE, secrets.token_hex(8))
    # One console line per delivery instead of the handler's JSON logs and EMF (--verbose keeps
    # them); what the handler logs on Lambda does not change.
    try:
        endpoints = stack.start(
            say=lambda text: print(text, file=stream, flush=True),
            console=console,
            quiet=not args.verbose,
        )
    except BaseException:
        stack.stop()  # what started before the failure (a taken port, an invalid file)
        raise
    state = devdata.state_file(os.getpid()).resolve()  # this stack's own: removed by it alone
    state.parent.mkdir(exist_ok=True)
    state.write_text(json.dumps({
        "pid": str(os.getpid()), "started": str(time.time()),
        "gateway": endpoints.gateway, "sandbox": endpoints.sandbox,
        "moto": endpoints.moto, "sources": str(args.sources),
        "salt": os.environ[devdata.SALT_VARIABLE], "token": endpoints.control_token,
    }))  # fmt: skip
    try:
        if args.json:
            print(json.dumps(endpoints.__dict__), flush=True)
        else:
            catalog = load_sources(args.sources)
            print(f"sources    {args.sources}  (edits are picked up while it runs)")
            print(f"receiver   {endpoints.gateway}/webhooks/{{source}}")
            for name in catalog.names:
                print(dev_credential(catalog, name, endpoints.gateway))
            print(f"health     {endpoints.gateway}/health")
            print(
                f"sandbox    {endpoints.sandbox}  (state: {endpoints.sandbox}/_sandbox/state; "
                f"its POST /_sandbox/* need X-Inspector-Token: {endpoints.control_token})"
            )
            print(f"moto       {endpoints.moto}")
            print(f"DLQ        {endpoints.queue_url}")
            if "zapier" in catalog.names:
                sample = sign_sample(
                    catalog, "zapier", sample_body("zapier"), url=endpoints.gateway
                )
                print("\nCreate a sequence:\n  " + curl_command(sample))
            print("\nCtrl-C stops everything.", flush=True)
        # Woken twice a second: Linux may deliver the signal to a server's thread, and the
        # main thread runs Python's handler only once it wakes (a bare wait() could sleep on).
        while not stopping.wait(0.5):
            pass
    finally:
        state.unlink(missing_ok=True)
        stack.stop()
    return 0


def _secret(args: argparse.Namespace) -> int:
    if not args.dev:
        print("error: only `make dev`'s dev credentials are printed (add --dev); a deployed "
              "stack's stay in Secrets Manager", file=sys.stderr)  # fmt: skip
        return 2
    state = running_stack()
    catalog = load_sources(args.sources or Path(state.get("sources") or DEFAULT_SOURCES))
    if catalog.get(args.source) is None:
        known = ", ".join(catalog.names)
        print(f"error: no source {args.source!r} in the sources file ({known})", file=sys.stderr)
        return 2
    gateway = state.get("gateway") or f"http://127.0.0.1:{devdata.GATEWAY_PORT}"
    print(dev_credential(catalog, args.source, gateway).strip())
    if not state:
        print("(no `make dev` runs here: the URL is the default one)", file=sys.stderr)
    return 0


def _signing_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    command.add_argument(
        "--secret",
        help="signing secret, or @FILE (a public-key source's private key, PEM); default: the "
        "local stack's dev secret",
    )
    command.add_argument(
        "--url", default=None,
        help="receiver base URL (default: the running make dev's, as .dev/stack-PID.json says)",
    )  # fmt: skip


def _signed(args: argparse.Namespace) -> SignedSample:
    catalog = load_sources(args.sources)
    if catalog.get(args.source) is None:
        raise ConfigurationError(f"no source {args.source!r} in {args.sources}")
    body = args.body.read_bytes()
    url = args.url or _dev_gateway()
    secret = args.secret
    if secret is not None and secret.startswith("@"):
        secret = Path(secret[1:]).read_text()
    try:
        return sign_sample(catalog, args.source, body, url=url, secret=secret)
    except InvalidSignature as exc:  # what the sender could not sign either (#30 item 12)
        raise ConfigurationError(
            f"{args.body} cannot be signed as {args.source} signs: {exc.explanation}"
        ) from None


def _dev_gateway() -> str:
    """Where the running `make dev` listens (its state file), else its default port."""
    return running_stack().get("gateway") or f"http://127.0.0.1:{devdata.GATEWAY_PORT}"


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
    url = args.url or _dev_gateway() + (path or f"/webhooks/{args.source}")
    body = request_body if request_body else body
    lines, ok = preview_report(source, body, letter=letter, headers=headers, url=url)
    for line in lines:
        print(line)
    if not args.send:
        return 0 if ok else 1  # a gate for CI: nothing that fails to map or verify passes
    gateway = url.rsplit("/webhooks/", 1)[0]
    return _deliver(sign_sample(catalog, args.source, body, url=gateway), timeout=30.0)


def _letter_to_preview(args: argparse.Namespace) -> DeadLetter:
    if not args.dev:
        return DeadLetter.model_validate_json(Path(args.file).read_bytes())
    for message in dead_letters(args).browse():
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


def _events(args: argparse.Namespace) -> int:
    for path in write_events(args.sources, args.out):
        print(f"wrote {path}")
    return 0
