"""One fresh-interpreter measurement, run by bench.py in a new process each time.

  fresh.py import receiver|reference|lean   import the module; print ms and peak RSS
  fresh.py deliver receiver|reference|lean  import and answer one delivery; print ms and RSS
  fresh.py deliver-dedup receiver|reference the same, deduplicated on DynamoDB
  fresh.py restore receiver                 SnapStart: import and run the before-snapshot hook
                                            (not timed: the snapshot holds it), then time the
                                            after-restore hook and one delivery
  fresh.py deliver-dedup best               the best hand-written receiver, deduplicated, traced
  fresh.py work worker                      WorkerFunction: import, one SQS batch of BENCH_EVENT
  fresh.py replay replayer                  ReplayFunction: import, one scheduled run

With BENCH_ARTIFACT set (a directory `sam build` made, or its x86-64 twin), the modules come
from there and nothing else: the interpreter runs with -I -S, as Lambda's does from /var/task.

The clock starts before the first import. For `deliver receiver`, the signed API Gateway event
is prepared by bench.py (the sender's work) and read from BENCH_EVENT.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402 - the clock must start first
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402


def peak_rss_mib() -> float:
    """VmHWM: this process's own peak (ru_maxrss would carry the forking parent's over exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Context:
    """What Lambda passes (local.gateway has one too, but importing it would bill http.server
    and its friends to the receiver)."""

    function_name = "ReceiverFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ReceiverFunction"
    memory_limit_in_mb = 256
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/ReceiverFunction"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 25_000


def production_function(stack: str) -> None:
    """The best hand-written receiver's delivery, or one of our other functions' invocations."""
    if stack == "best":  # the lean one, deduplicated and traced
        sys.path.insert(1, os.path.dirname(__file__))
        import reference_best

        assert reference_best.deliver() == 201
    elif stack == "worker":
        from skipcall_bridge.worker_handler import lambda_handler as work

        answer = work(json.loads(os.environ["BENCH_EVENT"]), Context())
        assert answer == {"batchItemFailures": []}, answer
    else:
        from skipcall_bridge.replay_handler import lambda_handler as replay

        replay({}, Context())


def main(action: str, stack: str) -> dict[str, float]:
    if os.environ.get("BENCH_ARTIFACT"):
        sys.path.insert(0, os.environ["BENCH_ARTIFACT"])
    delivering = action.startswith("deliver")
    event = json.loads(os.environ["BENCH_EVENT"]) if delivering and stack == "receiver" else None
    started = time.perf_counter()
    if stack == "reference":
        sys.path.insert(0, os.path.dirname(__file__))
        import reference_stack

        if delivering:
            assert reference_stack.deliver(dedup=action == "deliver-dedup") == 201
    elif stack in ("best", "worker", "replayer"):
        production_function(stack)
    elif stack == "lean":  # only what one delivery without deduplication needs
        sys.path.insert(0, os.path.dirname(__file__))
        import reference_lean

        if delivering:
            assert reference_lean.deliver() == 201
    elif action == "restore":
        from skipcall_bridge import snapstart
        from skipcall_bridge.handler import lambda_handler

        snapstart.before_snapshot()
        started = time.perf_counter()  # the container is restored from here
        snapstart.after_restore()
        answer = lambda_handler(json.loads(os.environ["BENCH_EVENT"]), Context())
        assert answer["statusCode"] == 201, answer
    else:
        from skipcall_bridge.handler import lambda_handler

        if delivering:
            answer = lambda_handler(event, Context())
            assert answer["statusCode"] == 201, answer
    elapsed = (time.perf_counter() - started) * 1000
    # whether the signature library of `public-key` sources came in (#29: only for those)
    cryptography = any(name.split(".")[0] == "cryptography" for name in sys.modules)
    return {"ms": elapsed, "rss_mib": peak_rss_mib(), "cryptography": cryptography}


if __name__ == "__main__":
    result = main(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    os.write(1, (json.dumps(result) + "\n").encode())
