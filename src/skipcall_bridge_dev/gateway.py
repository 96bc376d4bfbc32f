"""A local stand-in for API Gateway HTTP API: HTTP in, payload-2.0 event to the real handler.

It behaves like the real thing where verification cares: header names lowercased, duplicate
headers joined with commas, rawPath and rawQueryString as sent, and bodies that are not text
passed base64-encoded with isBase64Encoded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from skipcall_bridge_dev.http_server import BackgroundHTTPServer
from skipcall_bridge_dev.inspector import Exchange, Inspector

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")


class LocalContext:
    """The parts of the Lambda context object the handler and Powertools read."""

    def __init__(self, timeout_seconds: float, function_name: str) -> None:
        self._deadline = time.monotonic() + timeout_seconds
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


class LocalGateway(BackgroundHTTPServer):
    def __init__(
        self,
        handler: LambdaHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        timeout_seconds: float = 25.0,
        function_name: str = "ReceiverFunction",
        observers: list[Callable[[Exchange], None]] | None = None,
        quiet: bool = False,
    ) -> None:
        gateway = self
        self._handler = handler
        self.observers = list(observers or [])  # each request and its answer (console, inspector)
        self.inspector: Inspector | None = None  # serves /_inspect when set
        self._stdout: QuietWhileInvoking | None = None
        if quiet:  # the handler's own output (JSON logs, EMF) is dropped
            from skipcall_bridge.common.observability import logger

            log_handler = logger.registered_handler
            if isinstance(log_handler, logging.StreamHandler):
                log_handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the process' life
            # The EMF lines are printed; POWERTOOLS_METRICS_DISABLED leaves the cold start's.
            self._stdout = QuietWhileInvoking(sys.stdout)
            sys.stdout = self._stdout
        self._timeout = timeout_seconds
        self._function_name = function_name
        # One container: Lambda runs one invocation at a time per execution environment.
        self._invoke_lock = threading.Lock()
        self._refusals = RefusalLog().attach()

        class Handler(_GatewayHandler):
            owner = gateway

        super().__init__(host, port, Handler)

    def send(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes, host: str
    ) -> dict[str, Any]:
        """One request through the handler, as API Gateway would; observers see it."""
        event = to_event(method, path, headers, body, host)
        started = time.monotonic()
        refusal = ""
        try:
            result, refusal = self.invoke_explained(event)
        except Exception as exc:
            result = {
                "statusCode": 500,
                "headers": {"content-type": "application/json"},
                "body": json.dumps({"message": f"Internal Server Error ({type(exc).__name__})"}),
            }
        seconds = time.monotonic() - started
        exchange = Exchange(method, path, headers, body, result, seconds, refusal)
        for observe in self.observers:
            observe(exchange)
        return result

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.invoke_explained(event)[0]

    def invoke_explained(self, event: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The handler's answer and, for a refused credential, why (from the receiver's log
        line, as an operator reads it on CloudWatch: the answer itself never says)."""
        with self._invoke_lock:
            self._refusals.clear()
            context = LocalContext(self._timeout, self._function_name)
            if self._stdout is None:
                return self._handler(event, context), self._refusals.last
            with self._stdout.quiet():
                return self._handler(event, context), self._refusals.last

    def stop(self) -> None:
        self._refusals.detach()
        if self._stdout is not None and sys.stdout is self._stdout:
            sys.stdout = self._stdout.target
        super().stop()


class QuietWhileInvoking:
    """sys.stdout of a quiet `make dev`: what the thread running the handler prints meanwhile
    (EMF) is dropped, and every other thread's output passes. Swapping sys.stdout for the whole
    process around each request swallowed the start-up listing printed meanwhile (#30 item 15)."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._local = threading.local()

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        self._local.quiet = True
        try:
            yield
        finally:
            self._local.quiet = False

    def write(self, text: str) -> int:
        if getattr(self._local, "quiet", False):
            return len(text)
        return self.target.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding…
        return getattr(self.target, name)


class RefusalLog(logging.Handler):
    """The receiver's "Signature rejected" lines (their `why`), heard beside its own handler.
    Invocations are one at a time (the lock above), so the last one heard is this one's."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last = ""

    def attach(self) -> RefusalLog:
        from skipcall_bridge.common.observability import logger

        logging.getLogger(logger.name).addHandler(self)
        return self

    def detach(self) -> None:
        from skipcall_bridge.common.observability import logger

        logging.getLogger(logger.name).removeHandler(self)

    def clear(self) -> None:
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        why = getattr(record, "why", None)
        if getattr(record, "refusal", None) is not None and isinstance(why, str):
            self.last = why


class _GatewayHandler(BaseHTTPRequestHandler):
    owner: LocalGateway
    protocol_version = "HTTP/1.1"
    # One write per answer and no Nagle delay: otherwise every keep-alive answer stalls ~40 ms
    # on the peer's delayed ACK.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.owner.inspector is not None and self.path.startswith("/_inspect"):
            inspector = self.owner.inspector
            self._page(*inspector.handle(self.command, self.path, dict(self.headers.items()), body))
            return
        headers = list(self.headers.items())
        self._reply(self.owner.send(self.command, self.path, headers, body, self._host()))

    def _page(self, status: int, content_type: str, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _host(self) -> str:
        return self.headers.get("Host") or "127.0.0.1"

    def _reply(self, result: dict[str, Any]) -> None:

        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        self.send_response(int(result.get("statusCode", 200)))
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        headers.setdefault("content-type", "application/json")
        for name, value in headers.items():
            if name not in ("content-length", "connection"):
                self.send_header(name, value)
        for cookie in result.get("cookies") or []:
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def to_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, host: str
) -> dict[str, Any]:
    """Build an API Gateway HTTP API payload-2.0 event, as AWS documents it."""
    split = urlsplit(target)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    text = _is_text(joined.get("content-type", ""), body)
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": joined,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host.split(":", maxsplit=1)[0],
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not text,
    }
    if cookies:
        event["cookies"] = cookies
    if split.query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if body:
        event["body"] = body.decode() if text else base64.b64encode(body).decode()
    return event


def _is_text(content_type: str, body: bytes) -> bool:
    if not content_type.lower().startswith(TEXT_TYPES):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
