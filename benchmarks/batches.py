"""`make bench`, batches at the speed senders and Skipcall allow (issue #21): how fast a whole batch
reaches Skipcall, the way a sales team feels it.

AWS answers 8 ms slower than moto, through a proxy (an in-region DynamoDB/SQS round trip), and
the Skipcall sandbox takes 120 ms a call. The receiver runs in this process as Lambda runs it
(the handler, a Lambda context with 25 s); the work queue is drained by two pollers that feed
WorkerFunction's handler as its SQS event source would. In this process they take turns, as one
container (Lambda runs one invocation at a time in a container); the 1,000-event row below runs
two containers, each a process. The receiver works 8 events of a delivery at once
(the sources' default `concurrency`). Side by side: the same build at `concurrency` 1 and without
a work queue (WORK_QUEUE_URL unset), where what does not fit waits in the DLQ for the scheduled
replay. Last, `maxEvents`' largest delivery (1,000 events) on a 1,000-a-minute plan, drained by two
WorkerFunction containers, each a process of its own; its SQS is a quick stand-in
(skipcall_bridge_dev/quick_sqs.py), moto's being too slow for a thousand letters.

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import urllib3

from skipcall_bridge_dev import devdata, quick_sqs
from skipcall_bridge_dev.gateway import LocalContext, to_event
from skipcall_bridge_dev.moto_stack import (
    LINKS_TABLE,
    MotoServer,
    create_dead_letter_queue,
    create_idempotency_table,
    create_table,
    create_work_queue,
)
from skipcall_bridge_dev.sandbox import SkipcallSandbox
from skipcall_bridge_dev.stack import receiver_environment
from skipcall_bridge_dev.tcp_proxy import TcpProxy
from skipcall_bridge_dev.work_poller import WorkQueuePoller, worker_poller

AWS_DELAY = 0.008
SKIPCALL_SECONDS = 0.12
HUBSPOT_SECRET = "bench-hubspot-secret"  # noqa: S105 - a benchmark-only secret
TOKEN = "bench-token-0123456789"  # noqa: S105
URL = "https://hooks.example.com/webhooks/hubspot"
CREATOR = devdata.CREATOR_ID
SOURCES = {
    "sources": {
        # The hubspot preset's shape: its scheme's 4 s budget, contact.creation events.
        "hubspot": {
            "auth": {"scheme": "hubspot", "secretId": "bench/hubspot"},
            "events": "[?subscriptionType == 'contact.creation']",
            "sequence": {"name": "HubSpot {{ objectId }}", "creatorId": CREATOR,
                         "assignedToIds": [CREATOR]},
        },
        "leads": {
            "auth": {"scheme": "bearer", "secretId": "bench/leads"},
            "events": "leads",
            "deliveryId": "id",
            "maxEvents": 1000,
            "sequence": {"name": "{{ name }}", "creatorId": CREATOR, "assignedToIds": [CREATOR]},
        },
    }
}  # fmt: skip


@dataclass
class Row:
    metric: str
    ours: str
    without: str = ""
    target: str = ""
    ok: bool | None = None


def hubspot_events(attempt: int, base: int) -> list[dict[str, Any]]:
    return [
        {"eventId": base + n, "subscriptionId": 7, "portalId": 62515, "appId": 54321,
         "occurredAt": 1_764_147_600_000 + n, "subscriptionType": "contact.creation",
         "attemptNumber": attempt, "objectId": base + n, "changeSource": "CRM"}
        for n in range(100)
    ]  # fmt: skip


class AwsCalls:
    """Every AWS call the code makes, by service and operation (botocore's own event), the
    receiver's apart from the workers' (their pollers' threads)."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {"receiver": Counter(), "worker": Counter()}
        self._lock = threading.Lock()
        from skipcall_bridge.aws.config import aws_session

        aws_session().register("before-parameter-build", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        side = "worker" if threading.current_thread().name.startswith("work-queue") else "receiver"
        with self._lock:
            self.counts[side][f"{model.service_model.service_name}:{model.name}"] += 1

    def take(self, side: str) -> Counter[str]:
        with self._lock:
            taken, self.counts[side] = self.counts[side], Counter()
        return taken


class World:
    def __init__(self, moto: MotoServer, proxy: TcpProxy, sandbox: SkipcallSandbox) -> None:
        self.moto, self.proxy, self.sandbox = moto, proxy, sandbox

    @contextlib.contextmanager
    def configured(
        self, work_queue: bool, tmp: Path, concurrency: int = 8, sqs: QuickSqsProcess | None = None
    ) -> Iterator[str | None]:
        """A fresh AWS state and receiver container; the work queue's URL, when it has one.
        With `sqs`, the queues are there rather than in moto."""
        from skipcall_bridge.runtime import current_runtime, current_worker

        urllib3.PoolManager().request("POST", f"{self.moto.url}/moto-api/reset")
        secrets = self.moto.client("secretsmanager")
        secrets.create_secret(Name="bench/api-key", SecretString=json.dumps({"apiKey": "k"}))
        secrets.create_secret(Name="bench/hubspot", SecretString=HUBSPOT_SECRET)
        secrets.create_secret(Name="bench/leads", SecretString=TOKEN)
        queues = sqs or self.moto
        dlq = create_dead_letter_queue(queues, "bench-dlq")
        work = create_work_queue(queues, "bench-work", dlq) if work_queue else None
        create_idempotency_table(self.moto)
        create_table(self.moto, LINKS_TABLE)
        sources = tmp / "sources.json"
        catalog = json.loads(json.dumps(SOURCES))
        for source in catalog["sources"].values():
            source["concurrency"] = concurrency
        sources.write_text(json.dumps(catalog))
        self.sandbox.reset()
        self.sandbox.state.api_keys = {"k"}
        self.sandbox.state.rate_limit, self.sandbox.state.window_seconds = 1000, 60.0
        self.sandbox.inject("slow", seconds=SKIPCALL_SECONDS, count=1_000_000)
        env = receiver_environment(self.proxy.url, self.sandbox.url, dlq, sources, work)
        env |= {"SKIPCALL_API_KEY_SECRET_ID": "bench/api-key",
                "PUBLIC_BASE_URL": "https://hooks.example.com",
                "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR"}  # fmt: skip
        if sqs is not None:
            env["AWS_ENDPOINT_URL_SQS"] = sqs.url
        saved = dict(os.environ)
        os.environ.update(env)
        current_runtime.cache_clear()
        current_worker.cache_clear()
        try:
            yield work
        finally:
            current_runtime.cache_clear()
            current_worker.cache_clear()
            os.environ.clear()
            os.environ.update(saved)

    def dead_letters(self) -> int:
        from skipcall_bridge.runtime import current_runtime

        return current_runtime().dead_letters.depth()

    def created_at(self) -> list[float]:
        return [
            datetime.fromisoformat(s["createdAt"].replace("Z", "+00:00")).timestamp()
            for s in self.sandbox.sequences
        ]


def post_hubspot(events: list[dict[str, Any]]) -> tuple[int, dict[str, Any], float]:
    from skipcall_bridge.handler import lambda_handler
    from skipcall_bridge.verify.hubspot import HubSpotVerifier

    body = json.dumps(events, separators=(",", ":")).encode()
    headers = HubSpotVerifier(["v3"], 300).sign(body, HUBSPOT_SECRET, time.time(),
                                                method="POST", url=URL)  # fmt: skip
    pairs = [("Host", "hooks.example.com"), ("Content-Type", "application/json"), *headers.items()]
    event = to_event("POST", "/webhooks/hubspot", pairs, body, "hooks.example.com")
    started = time.monotonic()
    result = lambda_handler(event, LocalContext(25, "ReceiverFunction"))
    return result["statusCode"], json.loads(result["body"]), time.monotonic() - started


def post_leads(count: int) -> tuple[int, dict[str, Any], float]:
    from skipcall_bridge.handler import lambda_handler

    body = json.dumps({"leads": [{"id": f"l{n}", "name": f"Lead {n}"} for n in range(count)]})
    pairs = [("Host", "hooks.example.com"), ("Content-Type", "application/json"),
             ("Authorization", f"Bearer {TOKEN}")]  # fmt: skip
    event = to_event("POST", "/webhooks/leads", pairs, body.encode(), "hooks.example.com")
    started = time.monotonic()
    result = lambda_handler(event, LocalContext(25, "ReceiverFunction"))
    return result["statusCode"], json.loads(result["body"]), time.monotonic() - started


@contextlib.contextmanager
def workers(world: World, queue_url: str | None, count: int = 2) -> Iterator[list[WorkQueuePoller]]:

    pollers = [
        worker_poller(world.moto.client("sqs"), queue_url).start()
        for _ in range(count if queue_url else 0)
    ]
    try:
        yield pollers
    finally:
        for poller in pollers:
            poller.stop()


def wait_for(condition: Any, bound: float) -> float | None:
    """Seconds until `condition()` held (None: not within `bound`)."""
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(fraction * len(ordered)), len(ordered) - 1)]


def hubspot_batch(world: World, tmp: Path, work_queue: bool, concurrency: int) -> dict[str, Any]:
    with world.configured(work_queue, tmp, concurrency) as queue_url, workers(world, queue_url):
        calls = AwsCalls()
        sent_at = time.time()
        status, body, answered = post_hubspot(hubspot_events(0, 10_000))
        receiver_calls = calls.take("receiver")
        done = wait_for(lambda: len(world.sandbox.sequences) >= 100, 120 if work_queue else 2)
        delays = [at - sent_at for at in world.created_at()]
        worker_calls = calls.take("worker")
        retry_status, retry_body, retry_answered = post_hubspot(hubspot_events(1, 10_000))
        retry_calls = calls.take("receiver")
        return {
            "status": status, "answered": answered, "done": done, "delays": delays,
            "created_by_receiver": sum(e["status"] == "created" for e in body["events"]),
            "deferred": len(body.get("deferred", [])), "dead_letters": world.dead_letters(),
            "skipcall": dict(world.sandbox.state.calls), "receiver_calls": receiver_calls,
            "worker_calls": worker_calls, "retry": (retry_status, retry_answered),
            "retry_calls": retry_calls,
            "retry_duplicates": all(e.get("duplicate") for e in retry_body.get("events", [])),
            "most_in_flight": world.sandbox.state.most_in_flight,
        }  # fmt: skip


def burst(world: World, tmp: Path) -> dict[str, Any]:
    """60 events at 20 calls per 4 s window (a scaled-down STARTER plan: 100 a minute)."""
    with world.configured(True, tmp) as queue_url, workers(world, queue_url):
        world.sandbox.state.rate_limit, world.sandbox.state.window_seconds = 20, 4.0
        os.environ["SKIPCALL_RATE_WINDOW_SECONDS"] = "4"  # the containers pace by that window
        status, body, _ = post_leads(60)
        done = wait_for(lambda: len(world.sandbox.sequences) >= 60, 180)
        names = Counter(s["name"] for s in world.sandbox.sequences)
        return {
            "status": status, "done": done, "deferred": len(body.get("deferred", [])),
            "twice": sum(n > 1 for n in names.values()), "created": len(names),
            "dead_letters": world.dead_letters(), "throttled": world.sandbox.state.throttled,
            "requests": world.sandbox.state.requests,
        }  # fmt: skip


class QuickSqsProcess:
    """SQS at in-region speed (moto's takes ~14 s to store a thousand letters here), in a
    process of its own behind the same +8 ms proxy as moto."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "skipcall_bridge_dev.quick_sqs"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._process.stdout is not None
        host, port = self._process.stdout.readline().strip().removeprefix("http://").split(":")
        self._proxy = TcpProxy(host, int(port), delay_seconds=AWS_DELAY)
        self.url = self._proxy.url

    def client(self, service: str) -> Any:
        assert service == "sqs"
        return quick_sqs.client(self.url)

    def close(self) -> None:
        self._proxy.close()
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=10)


@contextlib.contextmanager
def worker_containers(count: int) -> Iterator[None]:
    """WorkerFunction's containers at the template's MaximumConcurrency (2), each a process
    with its own runtime, on the environment `configured` set."""
    script = Path(__file__).with_name("worker_container.py")
    processes = [
        subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, env=dict(os.environ))  # noqa: S603
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for process in processes:
            assert process.stdin is not None
            process.stdin.close()
        for process in processes:
            process.wait(timeout=60)


def thousand(world: World, tmp: Path) -> dict[str, Any]:
    """`maxEvents`' largest delivery (1,000 events) at a 1,000-a-minute plan: answered within the
    source's 4 s budget, each event done once by two worker containers, then the sender's
    retry. SQS is the quick stand-in here; DynamoDB and Secrets Manager are moto's."""
    sqs = QuickSqsProcess()
    try:
        with world.configured(True, tmp, sqs=sqs), worker_containers(2):
            return thousand_run(world)
    finally:
        sqs.close()


def thousand_run(world: World) -> dict[str, Any]:
    status, body, answered = post_leads(1000)
    sent = time.monotonic() - answered
    created = wait_for(lambda: len(world.sandbox.sequences) >= 1000, 180)
    done = None if created is None else time.monotonic() - sent
    names = Counter(s["name"] for s in world.sandbox.sequences)
    retry_status, retry_body, retry_answered = post_leads(1000)
    return {
        "status": status, "answered": answered, "done": done,
        "created": len(names), "twice": sum(n > 1 for n in names.values()),
        "created_by_receiver": sum(e["status"] == "created" for e in body.get("events", [])),
        "dead_letters": world.dead_letters(), "throttled": world.sandbox.state.throttled,
        "retry": (retry_status, retry_answered),
        "retry_created": sum(e["status"] == "created" for e in retry_body.get("events", [])),
        "after_retry": len(world.sandbox.sequences),
    }  # fmt: skip


def kinds(counts: Counter[str]) -> str:
    return ", ".join(f"{name.split(':')[1]} {n}" for name, n in sorted(counts.items())) or "none"


def rows_for(
    ours: dict[str, Any],
    without: dict[str, Any],
    burst_run: dict[str, Any],
    big: dict[str, Any],
) -> list[Row]:
    p50 = statistics.median(ours["delays"]) if ours["delays"] else float("nan")
    p95 = percentile(ours["delays"], 0.95) if ours["delays"] else float("nan")
    all_done = ours["done"] is not None and ours["dead_letters"] == 0
    last = max(ours["delays"], default=float("nan"))
    return [
        Row("100-event HubSpot batch: answered (budget 4 s)",
            f"{ours['status']} in {ours['answered']:.2f} s",
            f"{without['status']} in {without['answered']:.2f} s", "2xx <= 4 s",
            ours["status"] in (200, 201, 202) and ours["answered"] <= 4.0),
        Row("  created by the receiver / deferred / in the DLQ",
            f"{ours['created_by_receiver']} / {ours['deferred']} / {ours['dead_letters']}",
            f"{without['created_by_receiver']} / {without['deferred']} / "
            f"{without['dead_letters']} (replayed within 5 min)"),
        Row("  every event in Skipcall after the delivery",
            f"{last:.1f} s" if all_done else "not all", "at the next replay (<= 5 min)",
            "<= 15 s, none in the DLQ", all_done and last <= 15.0),
        Row("  event-to-Skipcall p50 / p95", f"{p50:.1f} s / {p95:.1f} s"),
        Row("  AWS calls, receiver", kinds(ours["receiver_calls"]),
            kinds(without["receiver_calls"])),
        Row("  AWS calls, worker", kinds(ours["worker_calls"])),
        Row("  Skipcall calls", ", ".join(f"{k} {v}" for k, v in ours["skipcall"].items()),
            ", ".join(f"{k} {v}" for k, v in without["skipcall"].items())),
        Row("  Skipcall calls in flight at most", str(ours["most_in_flight"]),
            str(without["most_in_flight"])),
        Row("HubSpot's retry of that batch (all duplicates): answered",
            f"{ours['retry'][0]} in {ours['retry'][1]:.2f} s",
            f"{without['retry'][0]} in {without['retry'][1]:.2f} s", "<= 0.6 s",
            ours["retry"][1] <= 0.6 and ours["retry_duplicates"]),
        Row("  AWS calls, the retry", kinds(ours["retry_calls"]), kinds(without["retry_calls"])),
        Row("60 events at 20 calls per 4 s: created, twice, in the DLQ",
            f"{burst_run['created']}, {burst_run['twice']}, {burst_run['dead_letters']} "
            f"({burst_run['deferred']} deferred; done in "
            f"{burst_run['done'] or float('nan'):.1f} s; {burst_run['throttled']} 429s of "
            f"{burst_run['requests']} calls)", "", "60, 0, 0",
            burst_run["created"] == 60 and burst_run["twice"] == 0
            and burst_run["dead_letters"] == 0),
        Row("1,000-event delivery (budget 4 s): answered",
            f"{big['status']} in {big['answered']:.2f} s ({big['created_by_receiver']} done "
            "inline)", "", "2xx <= 4 s",
            big["status"] in (200, 201, 202) and big["answered"] <= 4.0),
        Row("  every event done once at 1,000/min, none in the DLQ",
            f"{big['done']:.1f} s" if big["done"] is not None else "not all",
            "", "<= 60 s", big["done"] is not None and big["done"] <= 60.0
            and big["dead_letters"] == 0 and big["twice"] == 0),
        Row("  the workers' drain rate (2 containers)",
            f"{1000 / (big['done'] - big['answered']):.0f} events/s"
            if big["done"] is not None else "not all", "", "reported"),
        Row("  created, twice, in the DLQ, 429s",
            f"{big['created']}, {big['twice']}, {big['dead_letters']}, {big['throttled']}"),
        Row("  the sender's retry: answered",
            f"{big['retry'][0]} in {big['retry'][1]:.2f} s, {big['retry_created']} created",
            "", "2xx <= 4 s, none created",
            big["retry"][0] in (200, 201, 202) and big["retry"][1] <= 4.0
            and big["retry_created"] == 0 and big["after_retry"] == 1000),
    ]  # fmt: skip


def print_table(rows: list[Row]) -> None:
    header = ("row", "concurrency 8, work queue", "concurrency 1, no work queue", "target", "")
    table = [header] + [
        (
            r.metric,
            r.ours,
            r.without,
            r.target,
            "" if r.ok is None else ("ok" if r.ok else "MISSED"),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for number, line in enumerate(table):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if number == 0:
            print("  ".join("-" * width for width in widths))


@contextlib.contextmanager
def open_world() -> Iterator[World]:
    """moto behind the latency proxy, and the sandbox, until the block ends."""
    moto = MotoServer("127.0.0.1", 0).start()
    host, port = moto.url.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port), delay_seconds=AWS_DELAY)
    sandbox = SkipcallSandbox({"k"}, devdata.MEMBERS, port=0).start()
    try:
        yield World(moto, proxy, sandbox)
    finally:
        sandbox.stop()
        proxy.close()
        moto.stop()


def main() -> int:
    import tempfile

    with open_world() as world, tempfile.TemporaryDirectory() as tmp:
        print("a 100-event HubSpot batch, with the work queue...", file=sys.stderr)
        ours = hubspot_batch(world, Path(tmp), work_queue=True, concurrency=8)
        print("the same, one event at a time and without a work queue...", file=sys.stderr)
        without = hubspot_batch(world, Path(tmp), work_queue=False, concurrency=1)
        print("60 events past Skipcall's limit...", file=sys.stderr)
        burst_run = burst(world, Path(tmp))
        print("a 1,000-event delivery at 1,000 calls a minute...", file=sys.stderr)
        big = thousand(world, Path(tmp))
    rows = rows_for(ours, without, burst_run, big)
    print(f"\nbatches: AWS +{AWS_DELAY * 1000:.0f} ms a call (proxy), Skipcall "
          f"{SKIPCALL_SECONDS * 1000:.0f} ms a call, {os.cpu_count()} cores\n")  # fmt: skip
    print_table(rows)
    missed = [row.metric.strip() for row in rows if row.ok is False]
    if missed:
        print(f"\nMISSED: {'; '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
