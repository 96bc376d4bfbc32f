"""`make bench`, what deploys: cold starts of the artifact `sam build` makes, on Python 3.13, with
the template's configuration (deduplication, the link table, the work queue, tracing on).

The Lambda's artifact is arm64 and this machine may not be: the same `src/Makefile` rule builds
an x86-64 twin of it (only the native wheels differ), and each cold start runs in a fresh
`python3.13 -I -S` whose modules come from that directory alone, as Lambda's interpreter runs
from /var/task. The reference is the best hand-written receiver for the same configuration
(`reference_best.py`: Powertools' Logger, Metrics and HTTP resolver, get_secret, idempotency on
DynamoDB, a Tracer), loaded from the same directory. Each row is min / median / max over
BENCH_ARTIFACT_RUNS fresh processes (at least 5), ours and the reference's interleaved.

Exit status 1 when a target is missed, naming the rows.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from artifact_twin import TRACING, TWIN, build_twin, python313
from bench import SOURCES, SandboxProcess, body, environment, event_for, start_aws

from skipcall_bridge.common.envelope import DeadLetter
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge_dev.moto_stack import MotoServer, create_work_queue

ROOT = Path(__file__).resolve().parent.parent
RUNS = max(5, int(os.environ.get("BENCH_ARTIFACT_RUNS", "7")))
TARGET = 0.9  # the first production delivery, ours over the best hand-written one


LOADED_CRYPTOGRAPHY: list[bool] = []  # per cold start of ours: did `cryptography` load?


def fresh(python: str, action: str, stack: str, env: dict[str, str]) -> float:
    done = subprocess.run(  # noqa: S603 - our own script, on the artifact
        [python, "-I", "-S", str(ROOT / "benchmarks" / "fresh.py"), action, stack],
        capture_output=True, text=True, env={**env, "BENCH_ARTIFACT": str(TWIN)}, check=False,
        timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{action} {stack} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if stack == "receiver":
        LOADED_CRYPTOGRAPHY.append(bool(result.get("cryptography")))
    return float(result["ms"])


def spread(samples: list[float]) -> str:
    return f"{min(samples):.0f} / {statistics.median(samples):.0f} / {max(samples):.0f} ms"


def work_event(delivery: str) -> str:
    """One SQS record of WorkerFunction's event source: a deferred create."""
    letter = DeadLetter.model_validate({
        "source": "zapier", "deliveryId": delivery, "receivedAt": datetime.now(UTC),
        "reason": Reason.BUDGET_EXHAUSTED, "retryable": True, "attempts": 1,
        "error": ErrorInfo(code="BUDGET_EXHAUSTED", message="No time left."), "sequence": None,
        "payload": json.loads(body(delivery)),
    })  # fmt: skip
    record = {
        "messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": letter.to_message_body(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0",
                       "SenderId": "A", "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:work", "awsRegion": "us-east-1",
    }  # fmt: skip
    return json.dumps({"Records": [record]})


def main() -> int:
    python = python313()
    tmp = Path(tempfile.mkdtemp())
    sources = tmp / "sources.json"
    sources.write_text(json.dumps(SOURCES))
    print("building the artifact's x86-64 twin with src/Makefile...", file=sys.stderr)
    build_twin(sources)
    moto = MotoServer("127.0.0.1", 0).start()
    sandbox = SandboxProcess()
    rows: list[tuple[str, str, str, str, str, bool | None]] = []
    try:
        aws = start_aws(moto)
        env = environment(moto, sandbox, aws, TWIN / "sources.json")
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
        env |= TRACING | {"WORK_QUEUE_URL": create_work_queue(moto, "bench-work", aws["queue"])}
        ours, best, worker, replayer = [], [], [], []
        print(f"cold starts of the artifact, {RUNS} of each, interleaved...", file=sys.stderr)
        for run in range(RUNS):
            delivery = f"cold {uuid.uuid4()}"  # a new delivery each time: nothing to answer from
            pair = [
                (ours, "deliver-dedup", "receiver",
                 {"BENCH_EVENT": json.dumps(event_for(body(delivery)))}),
                (best, "deliver-dedup", "best", {"BENCH_DELIVERY_ID": delivery}),
            ]  # fmt: skip
            for samples, action, stack, extra in pair if run % 2 == 0 else pair[::-1]:
                samples.append(fresh(python, action, stack, env | extra))
            work_env = env | {"AWS_LAMBDA_FUNCTION_NAME": "WorkerFunction",
                              "BENCH_EVENT": work_event(f"work {uuid.uuid4()}")}  # fmt: skip
            worker.append(fresh(python, "work", "worker", work_env))
            replay_env = env | {"AWS_LAMBDA_FUNCTION_NAME": "ReplayFunction"}
            replayer.append(fresh(python, "replay", "replayer", replay_env))
        ratio = statistics.median(ours) / statistics.median(best)
        rows += [
            ("ReceiverFunction: first delivery, production configuration", spread(ours),
             spread(best), f"{ratio:.2f}", f"<= {TARGET}", ratio <= TARGET),
            ("ReceiverFunction, no public-key source: loads `cryptography`",
             "yes" if any(LOADED_CRYPTOGRAPHY) else "no", "", "", "no",
             not any(LOADED_CRYPTOGRAPHY)),
            ("WorkerFunction: import + one deferred create", spread(worker), "", "", "reported",
             None),
            ("ReplayFunction: import + a scheduled run (empty DLQ)", spread(replayer), "", "",
             "reported", None),
        ]  # fmt: skip
    finally:
        sandbox.stop()
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],  # noqa: S603
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    print(
        f"\nthe artifact (x86-64 twin of sam build's), Python {version}, tracing on, "
        f"dedup + links + work queue, {os.cpu_count()} cores; min / median / max of {RUNS}\n"
    )
    header = ("cold start", "skipcall-bridge", "best hand-written (reference_best.py)",
              "ratio", "target", "")  # fmt: skip
    table = [header] + [(*row[:5], {None: "", True: "ok", False: "MISSED"}[row[5]])
                        for row in rows]  # fmt: skip
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for number, line in enumerate(table):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if number == 0:
            print("  ".join("-" * width for width in widths))
    missed = [row[0] for row in rows if row[5] is False]
    if missed:
        print(f"\nMISSED: {'; '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
