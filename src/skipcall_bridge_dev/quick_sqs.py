"""SQS at in-region speed, for `make bench`'s thousand-event rows.

moto's SQS scans the whole queue on every request: a thousand letters take it about 14 s to
send and 30 s to receive on a 2-core machine, which would measure moto rather than the receiver
and the worker. This server speaks the same JSON protocol (boto3 reaches it through
`AWS_ENDPOINT_URL_SQS`) and keeps what the worker relies on: batches of at most 10 entries,
`DelaySeconds`, the visibility timeout and `ChangeMessageVisibility`, receive counts, a redrive
policy's `maxReceiveCount` into the dead-letter queue, and per-entry results. Each request costs
O(log n). It is a measuring instrument, not a tested emulation: the integration tests use moto.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT = "123456789012"
MAX_ENTRIES = 10


class SqsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Message:
    message_id: str
    body: str
    attributes: dict[str, Any]
    sent_at: float
    visible_at: float
    receives: int = 0
    receipt: str = ""  # the latest receive's handle: an older one no longer acts


@dataclass
class Queue:
    name: str
    visibility: float = 30.0
    delay: float = 0.0
    redrive_to: str | None = None
    max_receives: int = 0
    messages: dict[str, Message] = field(default_factory=dict)
    due: list[tuple[float, int, str]] = field(default_factory=list)  # (visible_at, n, id)

    def schedule(self, message: Message, counter: itertools.count[int]) -> None:
        heapq.heappush(self.due, (message.visible_at, next(counter), message.message_id))


class QuickSqs:
    """Queues behind one lock; `clock` is the server's time (wall-clock seconds)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._queues: dict[str, Queue] = {}
        self._lock = threading.Condition()
        self._counter = itertools.count()
        self._server: ThreadingHTTPServer | None = None

    # --- the server ---------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> QuickSqs:
        sqs = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # the headers and the body are two writes: without this, Nagle's algorithm
                # and the client's delayed ACK hold each answer ~40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                target = self.headers.get("X-Amz-Target", "").removeprefix("AmazonSQS.")
                try:
                    answer = sqs.call(target, json.loads(self.rfile.read(length) or b"{}"))
                    self._answer(200, answer)
                except SqsError as exc:
                    self._answer(400, {"__type": f"com.amazonaws.sqs#{exc.code}",
                                       "message": str(exc)})  # fmt: skip

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def queue_url(self, name: str) -> str:
        return f"{self.url}/{ACCOUNT}/{name}"

    # --- the operations -----------------------------------------------------------------------
    def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            raise SqsError("UnsupportedOperation", f"{operation} is not served here")
        with self._lock:
            answer: dict[str, Any] = handler(request)
            return answer

    def _queue(self, request: dict[str, Any]) -> Queue:
        name = str(request.get("QueueUrl", "")).rstrip("/").rsplit("/", 1)[-1]
        if name not in self._queues:
            raise SqsError("QueueDoesNotExist", f"no queue {name}")
        return self._queues[name]

    def _op_CreateQueue(self, request: dict[str, Any]) -> dict[str, Any]:
        name, attributes = request["QueueName"], request.get("Attributes", {})
        queue = self._queues.setdefault(name, Queue(name))
        queue.visibility = float(attributes.get("VisibilityTimeout", queue.visibility))
        queue.delay = float(attributes.get("DelaySeconds", queue.delay))
        if "RedrivePolicy" in attributes:
            policy = json.loads(attributes["RedrivePolicy"])
            queue.redrive_to = str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1]
            queue.max_receives = int(policy["maxReceiveCount"])
        return {"QueueUrl": self.queue_url(name)}

    def _op_GetQueueUrl(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"QueueUrl": self.queue_url(self._queue({"QueueUrl": request["QueueName"]}).name)}

    def _op_GetQueueAttributes(self, request: dict[str, Any]) -> dict[str, Any]:
        queue, now = self._queue(request), self._clock()
        visible = delayed = hidden = 0
        for message in queue.messages.values():
            if message.visible_at <= now:
                visible += 1
            elif message.receives == 0:
                delayed += 1
            else:
                hidden += 1
        return {"Attributes": {
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(hidden),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
            "VisibilityTimeout": str(int(queue.visibility)),
            "QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue.name}",
        }}  # fmt: skip

    def _op_SendMessage(self, request: dict[str, Any]) -> dict[str, Any]:
        entry = {**request, "Id": "0"}
        result = self._op_SendMessageBatch({"QueueUrl": request["QueueUrl"], "Entries": [entry]})
        if result["Failed"]:
            failed = result["Failed"][0]
            raise SqsError(failed["Code"], failed["Message"])
        sent: dict[str, Any] = result["Successful"][0]
        return {key: value for key, value in sent.items() if key != "Id"}

    def _op_SendMessageBatch(self, request: dict[str, Any]) -> dict[str, Any]:
        queue, entries = self._queue(request), request.get("Entries", [])
        if not entries:
            raise SqsError("EmptyBatchRequest", "no entries")
        if len(entries) > MAX_ENTRIES:
            raise SqsError("TooManyEntriesInBatchRequest", f"{len(entries)} entries")
        now, successful = self._clock(), []
        for entry in entries:
            body = str(entry["MessageBody"])
            message = Message(
                message_id=str(uuid.uuid4()),
                body=body,
                attributes=dict(entry.get("MessageAttributes", {})),
                sent_at=now,
                visible_at=now + float(entry.get("DelaySeconds", queue.delay)),
            )
            queue.messages[message.message_id] = message
            queue.schedule(message, self._counter)
            successful.append({"Id": entry["Id"], "MessageId": message.message_id,
                               "MD5OfMessageBody": _md5(body)})  # fmt: skip
        self._lock.notify_all()
        return {"Successful": successful, "Failed": []}

    def _op_ReceiveMessage(self, request: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(request)
        wanted = int(request.get("MaxNumberOfMessages", 1))
        if not 1 <= wanted <= MAX_ENTRIES:
            raise SqsError("InvalidParameterValue", "MaxNumberOfMessages is 1 to 10")
        visibility = float(request.get("VisibilityTimeout", queue.visibility))
        until = self._clock() + float(request.get("WaitTimeSeconds", 0))
        taken = self._take(queue, wanted, visibility)
        while not taken and self._clock() < until:
            self._lock.wait(timeout=min(0.05, max(until - self._clock(), 0)))
            taken = self._take(queue, wanted, visibility)
        # as SQS answers: no `Messages` at all when there are none
        return {"Messages": [self._as_received(message) for message in taken]} if taken else {}

    def _take(self, queue: Queue, wanted: int, visibility: float) -> list[Message]:
        now, taken = self._clock(), list[Message]()
        while queue.due and len(taken) < wanted and queue.due[0][0] <= now:
            visible_at, _, message_id = heapq.heappop(queue.due)
            message = queue.messages.get(message_id)
            if message is None or message.visible_at != visible_at:
                continue  # deleted, or its visibility changed since: a stale entry
            if queue.redrive_to and message.receives >= queue.max_receives:
                del queue.messages[message_id]  # SQS's redrive: it moves on its next receive
                target = self._queues[queue.redrive_to]
                message.visible_at, message.receives = now, 0
                target.messages[message_id] = message
                target.schedule(message, self._counter)
                continue
            message.receives += 1
            message.receipt = f"{message_id}#{message.receives}#{uuid.uuid4().hex[:8]}"
            message.visible_at = now + visibility
            queue.schedule(message, self._counter)
            taken.append(message)
        return taken

    def _as_received(self, message: Message) -> dict[str, Any]:
        received: dict[str, Any] = {
            "MessageId": message.message_id,
            "ReceiptHandle": message.receipt,
            "Body": message.body,
            "MD5OfBody": _md5(message.body),
            "Attributes": {
                "ApproximateReceiveCount": str(message.receives),
                "SentTimestamp": str(int(message.sent_at * 1000)),
                "ApproximateFirstReceiveTimestamp": str(int(message.sent_at * 1000)),
                "SenderId": ACCOUNT,
            },
        }
        if message.attributes:
            received["MessageAttributes"] = message.attributes
        return received

    def _by_receipt(self, queue: Queue, receipt: str) -> Message:
        message = queue.messages.get(receipt.split("#", 1)[0])
        if message is None or message.receipt != receipt:
            raise SqsError("ReceiptHandleIsInvalid", "not the message's latest receipt")
        return message

    def _op_DeleteMessage(self, request: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(request)
        message = queue.messages.get(str(request["ReceiptHandle"]).split("#", 1)[0])
        if message is not None:  # SQS: an old receipt of a message still there deletes it too
            del queue.messages[message.message_id]
        return {}

    def _op_DeleteMessageBatch(self, request: dict[str, Any]) -> dict[str, Any]:
        for entry in request["Entries"][:MAX_ENTRIES]:
            self._op_DeleteMessage({"QueueUrl": request["QueueUrl"], **entry})
        return {"Successful": [{"Id": entry["Id"]} for entry in request["Entries"]], "Failed": []}

    def _op_ChangeMessageVisibility(self, request: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(request)
        message = self._by_receipt(queue, str(request["ReceiptHandle"]))
        message.visible_at = self._clock() + float(request["VisibilityTimeout"])
        queue.schedule(message, self._counter)
        self._lock.notify_all()
        return {}

    def _op_ChangeMessageVisibilityBatch(self, request: dict[str, Any]) -> dict[str, Any]:
        successful, failed = [], []
        for entry in request["Entries"][:MAX_ENTRIES]:
            try:
                self._op_ChangeMessageVisibility({"QueueUrl": request["QueueUrl"], **entry})
                successful.append({"Id": entry["Id"]})
            except SqsError as exc:
                failed.append({"Id": entry["Id"], "Code": exc.code, "Message": str(exc),
                               "SenderFault": True})  # fmt: skip
        return {"Successful": successful, "Failed": failed}

    def _op_PurgeQueue(self, request: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(request)
        queue.messages.clear()
        queue.due.clear()
        return {}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def client(url: str) -> Any:
    """A boto3 SQS client of this server (any credentials do)."""
    import boto3

    return boto3.client(
        "sqs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - not checked
    )


def main() -> None:
    """Its own process (as SQS is): prints its URL, serves until its standard input closes."""
    import sys

    server = QuickSqs().start()
    print(server.url, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
