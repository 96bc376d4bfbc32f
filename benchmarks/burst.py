"""`make bench`, pacing across containers (issue #21, item 4): a burst of 1,000 deliveries on a
key whose plan allows 100 calls a window, sent to eight receiver containers at once, the work
queue drained by two worker containers (WorkerMaxConcurrency 2). Each container is its own
process, so each knows only Skipcall's answers to itself, as on Lambda.

Time is scaled down tenfold: Skipcall's window is 6 s instead of a minute (100 calls a window,
as on STARTER), and the containers are told so (SKIPCALL_RATE_WINDOW_SECONDS). AWS answers 8 ms
slower through a proxy, Skipcall in 120 ms. Targets: every event done once, none in the DLQ, 429s
at most 5 % of Skipcall calls.

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from batches import AWS_DELAY, TOKEN, World, wait_for

DELIVERIES = 1000
RECEIVERS = 8
WORKERS = 2
LIMIT, WINDOW_SECONDS = 100, 6.0


def receive(first: int, count: int) -> None:
    """A receiver container: its share of the deliveries, one after another (one Lambda
    container takes one request at a time)."""
    from skipcall_bridge.handler import lambda_handler
    from skipcall_bridge_dev.gateway import LocalContext, to_event

    statuses: Counter[str] = Counter()
    for number in range(first, first + count):
        body = json.dumps({"leads": [{"id": f"l{number}", "name": f"Lead {number}"}]}).encode()
        pairs = [("Host", "hooks.example.com"), ("Content-Type", "application/json"),
                 ("Authorization", f"Bearer {TOKEN}")]  # fmt: skip
        event = to_event("POST", "/webhooks/leads", pairs, body, "hooks.example.com")
        answer = json.loads(lambda_handler(event, LocalContext(25, "ReceiverFunction"))["body"])
        statuses.update(e["status"] for e in answer.get("events", []) or [{"status": "error"}])
    print(json.dumps(statuses))


def work() -> None:
    """A worker container: WorkerFunction's event source until stdin closes."""
    from skipcall_bridge.aws.config import aws_client
    from skipcall_bridge_dev.work_poller import worker_poller

    sqs = aws_client("sqs", os.environ.get("AWS_REGION"))
    poller = worker_poller(sqs, os.environ["WORK_QUEUE_URL"]).start()
    sys.stdin.read()
    poller.stop()
    counts = poller.counts
    print(json.dumps({"received": counts.received, "deleted": counts.deleted}))


def child(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - this script, with the parent's interpreter
        [sys.executable, __file__, *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def run(world: World, tmp: Path) -> dict[str, Any]:
    with world.configured(True, tmp) as queue_url:
        assert queue_url is not None
        world.sandbox.state.rate_limit = LIMIT
        world.sandbox.state.window_seconds = WINDOW_SECONDS
        os.environ["SKIPCALL_RATE_WINDOW_SECONDS"] = str(WINDOW_SECONDS)
        os.environ["WORK_QUEUE_URL"] = queue_url
        workers = [child("work") for _ in range(WORKERS)]
        share = DELIVERIES // RECEIVERS
        started = time.monotonic()
        receivers = [child("receive", str(n * share), str(share)) for n in range(RECEIVERS)]
        answered: Counter[str] = Counter()
        for receiver in receivers:
            out, _ = receiver.communicate(timeout=600)
            answered.update(json.loads(out.strip().splitlines()[-1]))
        received_in = time.monotonic() - started
        done = wait_for(lambda: len(world.sandbox.sequences) >= DELIVERIES, 600)
        for worker in workers:
            worker.communicate("", timeout=60)
        names = Counter(s["name"] for s in world.sandbox.sequences)
        state = world.sandbox.state
        return {
            "answered": dict(answered), "received_in": received_in,
            "done": None if done is None else time.monotonic() - started,
            "created": len(names), "twice": sum(n > 1 for n in names.values()),
            "dead_letters": world.dead_letters(), "throttled": state.throttled,
            "requests": state.requests,
        }  # fmt: skip


def main() -> int:
    from batches import open_world

    with open_world() as world, tempfile.TemporaryDirectory() as tmp:
        print(f"{DELIVERIES} deliveries to {RECEIVERS} receivers...", file=sys.stderr)
        result = run(world, Path(tmp))
    share = result["throttled"] / max(result["requests"], 1)
    ok = (
        result["created"] == DELIVERIES
        and result["twice"] == 0
        and result["dead_letters"] == 0
        and share <= 0.05
    )
    print(f"\nburst: {DELIVERIES} deliveries, {RECEIVERS} receiver and {WORKERS} worker containers "
          f"(processes), Skipcall {LIMIT} calls a {WINDOW_SECONDS:.0f} s window (a minute, scaled "
          f"tenfold), AWS +{AWS_DELAY * 1000:.0f} ms a call, {os.cpu_count()} cores")  # fmt: skip
    print(f"  answered: {result['answered']} in {result['received_in']:.1f} s")
    done = result["done"]
    print(f"  created {result['created']}, twice {result['twice']}, in the DLQ "
          f"{result['dead_letters']}; all done in "
          f"{'not all' if done is None else f'{done:.1f} s'} "
          f"(at least {DELIVERIES / LIMIT * WINDOW_SECONDS:.0f} s at this limit)")  # fmt: skip
    print(f"  429s: {result['throttled']} of {result['requests']} Skipcall calls ({share:.1%}; "
          f"target <= 5 %)  {'ok' if ok else 'MISSED'}")  # fmt: skip
    if not ok:
        print("\nMISSED: burst: every event done once, none in the DLQ, 429s <= 5 %")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "receive":
        receive(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "work":
        work()
    else:
        sys.exit(main())
