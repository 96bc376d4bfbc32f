"""`make bench`: the receiver's speed and memory next to the naive Powertools stack, every figure
measured in this run, on this machine, against moto and the Skipcall sandbox on 127.0.0.1.

Cold rows run what deploys: the artifact's x86-64 twin on Python 3.13 with the template's
tracing (artifact_twin.py), each row min / median / max over RUNS fresh processes, ours and the
reference's interleaved. Warm rows run in this process.

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from artifact_twin import TRACING, TWIN, build_twin, python313

from skipcall_bridge.common.observability import logger, metrics
from skipcall_bridge.common.ports import NoIdempotency
from skipcall_bridge.letters.replay import ReplayFilter
from skipcall_bridge.receive.inbound import InboundDelivery
from skipcall_bridge.receive.pipeline import Pipeline
from skipcall_bridge.skipcall.client import SkipcallClient
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.verify import Headers, SignedRequest
from skipcall_bridge_dev import devdata
from skipcall_bridge_dev.gateway import to_event
from skipcall_bridge_dev.moto_stack import (
    LINKS_TABLE,
    MotoServer,
    create_idempotency_table,
    create_table,
)
from skipcall_bridge_dev.sandbox import SkipcallSandbox
from skipcall_bridge_dev.stack import receiver_environment

ROOT = Path(__file__).resolve().parent.parent
RUNS = max(5, int(os.environ.get("BENCH_RUNS", "7")))  # fresh processes per cold row
WARM_DELIVERIES = 10_000
TOKEN = "bench-token-0123456789"  # noqa: S105 - a benchmark-only bearer token
API_KEY = devdata.API_KEY
CREATOR = devdata.CREATOR_ID
SOURCES = {
    "sources": {
        "zapier": {
            "auth": {"scheme": "bearer", "secretId": "bench/zapier"},
            "sequence": {"name": "{{ name }}", "creatorId": "{{ creatorId }}",
                         "assignedToIds": "{{ assignedToIds }}", "contactIds": "{{ contactIds }}"},
        }
    }
}  # fmt: skip
ZIP = ROOT / "dist" / "skipcall-bridge-arm64.zip"


@dataclass
class Row:
    metric: str
    ours: str
    reference: str = ""
    ratio: str = ""
    target: str = ""
    ok: bool | None = None


def body(name: str) -> bytes:
    return json.dumps({"name": name, "creatorId": CREATOR, "assignedToIds": [CREATOR]}).encode()


def event_for(payload: bytes) -> dict[str, Any]:
    headers = [("Content-Type", "application/json"), ("Authorization", f"Bearer {TOKEN}")]
    return to_event("POST", "/webhooks/zapier", headers, payload, "bench.example.com")


def fresh(action: str, stack: str, env: dict[str, str]) -> dict[str, float]:
    """One cold start, as Lambda runs one: a new `python3.13 -I -S` whose modules come from the
    artifact's x86-64 twin alone (artifact.py builds it), with the template's tracing."""
    done = subprocess.run(  # noqa: S603 - our own script
        [python313(), "-I", "-S", str(ROOT / "benchmarks" / "fresh.py"), action, stack],
        capture_output=True, text=True, check=False, timeout=120,
        env={**{k: v for k, v in env.items() if k != "POWERTOOLS_TRACE_DISABLED"}, **TRACING,
             "BENCH_ARTIFACT": str(TWIN)},
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{action} {stack} failed:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass(frozen=True)
class Spread:
    """One figure over RUNS fresh processes."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def __str__(self) -> str:
        return f"{min(self.samples):.0f} / {self.median:.0f} / {max(self.samples):.0f} ms"


def pairs(
    ours: tuple[str, str, dict[str, str]], reference: tuple[str, str, dict[str, str]]
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """RUNS cold starts of each, interleaved (ours first on even runs), so that a machine
    busier at one moment weighs on both alike."""
    mine: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for run in range(RUNS):
        order = [(mine, ours), (theirs, reference)]
        for samples, (action, stack, env) in order if run % 2 == 0 else order[::-1]:
            samples.append(fresh(action, stack, env))
    return mine, theirs


def spread(samples: list[dict[str, float]], key: str = "ms") -> Spread:
    return Spread(tuple(sample[key] for sample in samples))


def compile_references() -> None:
    """The artifact ships its bytecode; the reference modules beside fresh.py get theirs once
    here, for Python 3.13, rather than in the first timed run."""
    for name in ("reference_stack.py", "reference_lean.py", "reference_best.py"):
        subprocess.run([python313(), "-m", "py_compile", str(ROOT / "benchmarks" / name)],  # noqa: S603
                       check=True)  # fmt: skip


def cold(env: dict[str, str], rows: list[Row]) -> None:
    if not (TWIN / "skipcall_bridge").is_dir():
        sources = Path(tempfile.mkdtemp()) / "sources.json"
        sources.write_text(json.dumps(SOURCES))
        build_twin(sources)
    compile_references()
    ours_runs, ref_runs = pairs(("import", "receiver", env), ("import", "reference", env))
    ours, ref = spread(ours_runs), spread(ref_runs)
    ratio = ours.median / ref.median
    rows.append(Row("cold init: import the handler", str(ours), str(ref), f"{ratio:.2f}",
                    "<= 0.35", ratio <= 0.35))  # fmt: skip
    rss, ref_rss = spread(ours_runs, "rss_mib").median, spread(ref_runs, "rss_mib").median
    rows.append(Row("cold init: peak RSS (median)", f"{rss:.1f} MiB", f"{ref_rss:.1f} MiB",
                    f"{rss / ref_rss:.2f}", "<= 45 MiB", rss <= 45))  # fmt: skip

    # Like with like: neither deduplicates on this row (the reference's `deliver` makes no
    # DynamoDB call), so the receiver runs without IDEMPOTENCY_TABLE; both do on the
    # production row below.
    plain_env = {name: value for name, value in env.items() if name != "IDEMPOTENCY_TABLE"}
    first = first_delivery(plain_env, "deliver", ref_env=env)
    rows.append(first_row("cold first delivery: import + secret + POST", first, 0.5))
    # Like with like: the naive stack builds a Tracer and an SQS client this path never uses.
    lean = first_delivery(plain_env, "deliver", ref_env=env, reference_stack="lean")
    rows.append(Row("cold first delivery vs the lean reference (no unused clients)",
                    str(lean[0]), str(lean[1]), f"{lean[0].median / lean[1].median:.2f}",
                    "reported"))  # fmt: skip
    # The production configuration: deduplication and the link table on (template.yaml).
    dedup_env = {**env, "IDEMPOTENCY_TABLE": env["BENCH_TABLE"]}
    with_dedup = first_delivery(dedup_env, "deliver-dedup", ref_env=dedup_env)
    rows.append(first_row("cold first delivery, production configuration (both deduplicating)",
                          with_dedup, 0.55))  # fmt: skip
    restored = first_delivery(
        dedup_env, "restore", ref_env=dedup_env, reference_action="deliver-dedup"
    )
    ratio = restored[0].median / restored[1].median
    # Both in a fresh process; ours runs the before-snapshot hook untimed (the snapshot holds
    # what it loaded), then the after-restore hook and the delivery timed.
    rows.append(Row("SnapStart, fresh processes: restore + first delivery vs the naive cold one",
                    str(restored[0]), str(restored[1]), f"{ratio:.2f}", "<= 0.2",
                    ratio <= 0.2))  # fmt: skip


def first_delivery(
    env: dict[str, str],
    action: str,
    ref_env: dict[str, str],
    reference_action: str = "",
    reference_stack: str = "reference",
) -> tuple[Spread, Spread]:
    ours: list[dict[str, float]] = []
    ref: list[dict[str, float]] = []
    for run in range(RUNS):
        delivery = f"cold {uuid.uuid4()}"  # a new delivery each time: no stored answer to reuse
        mine = (
            ours,
            action,
            "receiver",
            {**env, "BENCH_EVENT": json.dumps(event_for(body(delivery)))},
        )
        theirs = (ref, reference_action or action, reference_stack,
                  {**ref_env, "BENCH_DELIVERY_ID": delivery})  # fmt: skip
        for samples, act, stack, run_env in (mine, theirs) if run % 2 == 0 else (theirs, mine):
            samples.append(fresh(act, stack, run_env))
    return spread(ours), spread(ref)


def first_row(metric: str, times: tuple[Spread, Spread], target: float) -> Row:
    ratio = times[0].median / times[1].median
    return Row(metric, str(times[0]), str(times[1]), f"{ratio:.2f}", f"<= {target}",
               ratio <= target)  # fmt: skip


class StaticSecrets:
    def signing_secrets(self, secret_id: str) -> list[str]:
        return [TOKEN]

    def api_key(self, refresh: bool = False) -> str:
        return API_KEY


class InMemoryResponse:
    status = 201
    headers: dict[str, str] = {}  # noqa: RUF012 - read-only
    data = json.dumps({
        "id": "3f1c", "name": "warm", "organizationMembershipId": CREATOR,
        "createdAt": "2026-11-26T00:00:00.000Z", "updatedAt": "2026-11-26T00:00:00.000Z",
    }).encode()  # fmt: skip


class InMemoryPool:
    """The Skipcall transport, replaced in this benchmark only: no socket, a canned 201."""

    def request(self, *args: Any, **kwargs: Any) -> InMemoryResponse:
        return InMemoryResponse()


class NullDeadLetters:
    def send(self, letters: Any) -> None:
        raise AssertionError("nothing should be dead-lettered in the warm run")


def warm(rows: list[Row]) -> None:
    catalog = SourceCatalog.from_config(parse_sources(json.dumps(SOURCES)))
    client = SkipcallClient("https://api.invalid", StaticSecrets())
    client._pool = InMemoryPool()  # type: ignore[assignment]
    pipeline = Pipeline(catalog, StaticSecrets(), client, NullDeadLetters(),
                        max_body_bytes=256 * 1024, guard=NoIdempotency())  # fmt: skip
    request = SignedRequest("POST", "https://bench.example.com/webhooks/zapier", body("warm"),
                            Headers({"authorization": f"Bearer {TOKEN}"}))  # fmt: skip
    delivery = InboundDelivery("zapier", request)

    def deliver() -> None:
        pipeline.process(delivery, 20.0)
        # As log_metrics does after every invocation. Never flushed, the metric lists would
        # grow to Powertools' 100 values, and each addition formats them all for a debug line.
        metrics.flush_metrics()

    durations = []
    stream = io.StringIO()
    logger.registered_handler.setStream(stream)  # every log line is formatted, then dropped
    with contextlib.redirect_stdout(io.StringIO()):  # EMF metric flushes
        for _ in range(500):
            deliver()
        gc.freeze()  # as the handler does after its first invocation (frozen_after_first_call)
        for index in range(WARM_DELIVERIES):
            started = time.perf_counter_ns()
            deliver()
            durations.append(time.perf_counter_ns() - started)
            if index % 1000 == 0:
                stream.seek(0)
                stream.truncate()
    logger.registered_handler.setStream(sys.stdout)
    durations.sort()
    p50 = durations[len(durations) // 2] / 1000
    p99 = durations[int(len(durations) * 0.99)] / 1000
    rows.append(Row(f"warm pipeline: verify, map, validate, build request, log, EMF "
                    f"({WARM_DELIVERIES:,})",
                    f"p50 {p50:.0f} us, p99 {p99:.0f} us",
                    target="reported (the microsecond targets are retired)"))  # fmt: skip


@contextlib.contextmanager
def stdout_to_a_pipe() -> Any:
    """fd 1 becomes a pipe read by another process, as Lambda's stdout is (the runtime's log
    collector reads it, not a thread of the function): log lines and EMF are really written."""
    sys.stdout.flush()
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys\nwhile sys.stdin.buffer.read1(1 << 16): pass"],
        stdin=subprocess.PIPE,
    )  # fmt: skip
    assert reader.stdin is not None
    saved = os.dup(1)
    os.dup2(reader.stdin.fileno(), 1)
    reader.stdin.close()  # fd 1 is now the pipe's only writer
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)  # the pipe's last writer closes: the reader ends
        os.close(saved)
        reader.wait(5)


class SandboxProcess:
    """The Skipcall sandbox in an interpreter of its own, as Skipcall is a server of its own: a
    sandbox thread in the measured process would take the GIL from the handler each time the
    handler waits on its socket, and bill its own request parsing to the handler's clock."""

    def __init__(self) -> None:
        code = (
            "import sys\n"
            "from skipcall_bridge_dev import devdata\n"
            "from skipcall_bridge_dev.sandbox import SkipcallSandbox\n"
            f"sandbox = SkipcallSandbox({{{API_KEY!r}}}, devdata.MEMBERS, rate_limit=10_000_000)\n"
            "print(sandbox.start().url, flush=True)\n"
            "sys.stdin.read()\n"  # until the benchmark closes the pipe
            "sandbox.stop()\n"
        )
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()

    def stop(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(10)


def p50_of(run: Any, rounds: int, per_round: int) -> list[float]:
    """Per-call microseconds, over `rounds` of `per_round` calls."""
    samples: list[float] = []
    for _ in range(per_round):
        started = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def warm_handler(moto: MotoServer, sources: Path, rows: list[Row]) -> None:
    """The whole handler as Lambda calls it (stdout a pipe, metrics flushed), next to a plain
    Powertools receiver doing the same work, the Powertools floor, and a bare urllib3 POST;
    interleaved in rounds so that the machine's drift hits all alike."""
    from skipcall_bridge.handler import lambda_handler
    from skipcall_bridge_dev.gateway import LocalContext

    sandbox = SandboxProcess()
    env = environment(moto, sandbox, start_aws(moto), sources)
    for name in ("IDEMPOTENCY_TABLE", "POWERTOOLS_METRICS_DISABLED"):
        env.pop(name)  # as the plain receiver: no deduplication; metrics flushed for both
    env |= {"BENCH_TOKEN": TOKEN, "POWERTOOLS_SERVICE_NAME": "skipcall-bridge"}
    event = event_for(body("warm handler"))
    context = LocalContext(25, "bench")
    http = urllib3.PoolManager()
    payload = body("bare")
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    samples: dict[str, list[float]] = {"ours": [], "plain": [], "floor": [], "bare": [],
                                       "ours in process": []}  # fmt: skip
    with applied(env) as current_runtime, stdout_to_a_pipe():
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import reference_stack

        runs = {
            "ours": lambda: lambda_handler(event, context),
            "plain": lambda: reference_stack.plain_handler(event, context),
            "floor": lambda: reference_stack.floor_handler(event, context),
            "bare": lambda: http.request("POST", sandbox.url + "/v1/sequences", body=payload,
                                         headers=headers),
        }  # fmt: skip
        for run in runs.values():  # warm: first calls, caches, connections
            for _ in range(200):
                run()
        assert lambda_handler(event, context)["statusCode"] == 201
        assert reference_stack.plain_handler(event, context)["statusCode"] == 200
        for _ in range(10):
            for name, run in runs.items():
                samples[name] += p50_of(run, 1, 300)
        # In process: the same handler with Skipcall's transport in memory (no socket).
        client = current_runtime().skipcall
        real_pool, client._pool = client._pool, InMemoryPool()  # type: ignore[assignment]
        for _ in range(10):
            samples["ours in process"] += p50_of(runs["ours"], 1, 300)
            samples["floor"] += p50_of(runs["floor"], 1, 300)
        client._pool = real_pool
    sandbox.stop()
    p50 = {name: statistics.median(values) for name, values in samples.items()}
    ours_over, plain_over = p50["ours"] - p50["bare"], p50["plain"] - p50["bare"]
    rows.append(Row("warm, whole handler over loopback: overhead above a bare urllib3 POST",
                    f"{ours_over:.0f} us (p50 {p50['ours']:.0f} us)",
                    f"plain Powertools receiver {plain_over:.0f} us (p50 {p50['plain']:.0f} us); "
                    f"bare POST {p50['bare']:.0f} us",
                    f"{ours_over / plain_over:.2f}", "<= 2 (the guard)",
                    ours_over <= 2 * plain_over))  # fmt: skip
    above = p50["ours in process"] - p50["floor"]
    rows.append(Row("warm, whole handler in process: our code above the Powertools floor",
                    f"{above:.0f} us (p50 {p50['ours in process']:.0f} us)",
                    f"floor: decorators, resolver, 1 log line, 1 metric: {p50['floor']:.0f} us",
                    target="reported"))  # fmt: skip


# Each delivery enrols into a sequence named after it: a new name every time, as a target
# rendered from the payload ("Deal {{ id }}") is. The container's name cache must stay bounded.
NAMED_SOURCES = {
    "sources": {
        "zapier": {
            "auth": {"scheme": "bearer", "secretId": "bench/zapier"},
            "action": "enrol",
            "target": {"name": "Deal {{ name }}"},
            "contactIds": "{{ contacts }}",
            "sequence": {"creatorId": CREATOR, "assignedToIds": [CREATOR]},
        }
    }
}


class RemoteNames:
    """The link table as the container sees DynamoDB: the names live there, not in memory."""

    def lookup(self, name: str) -> None:
        return None

    def claim(self, name: str, token: str, now: float) -> bool:
        return True

    def link(self, name: str, sequence_id: str) -> None:
        return None

    def mark_unknown(self, name: str, token: str) -> None:
        return None

    def release(self, name: str, token: str) -> None:
        return None

    def forget(self, name: str) -> None:
        return None


def no_growth(rows: list[Row], *, named: bool = False) -> None:
    """10,000 warm deliveries, different each time, must not grow memory (no cache that keeps
    every delivery); `named`: each one enrols into a sequence of a new name."""
    import tracemalloc

    from skipcall_bridge.acting.naming import SequenceNamer

    catalog = SourceCatalog.from_config(
        parse_sources(json.dumps(NAMED_SOURCES if named else SOURCES))
    )
    client = SkipcallClient("https://api.invalid", StaticSecrets())
    client._pool = InMemoryPool()  # type: ignore[assignment]
    pipeline = Pipeline(catalog, StaticSecrets(), client, NullDeadLetters(),
                        max_body_bytes=256 * 1024, guard=NoIdempotency(),
                        namer=SequenceNamer(RemoteNames()))  # fmt: skip

    def deliver(index: int) -> None:
        payload = (
            json.dumps({"name": f"delivery {index}", "contacts": ["c-1"]}).encode()
            if named
            else body(f"delivery {index}")
        )
        request = SignedRequest("POST", "https://bench.example.com/webhooks/zapier", payload,
                                Headers({"authorization": f"Bearer {TOKEN}"}))  # fmt: skip
        pipeline.process(InboundDelivery("zapier", request), 20.0)
        metrics.flush_metrics()  # as after every invocation

    # Logs and EMF really written, to a sink that keeps nothing (a StringIO would grow itself).
    stream = logger.registered_handler.stream
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        logger.registered_handler.setStream(sink)
        # Traced from the start: what a bounded cache replaces is then counted both when it
        # comes and when it goes (traced only later, the first entries would never be seen
        # leaving, and a full cache would look like growth).
        tracemalloc.start()
        for index in range(2000):  # past the name cache's 1,024: it is full from here on
            deliver(index)
        gc.collect()
        before = tracemalloc.take_snapshot()
        for index in range(2000, 12_000):
            deliver(index)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        logger.registered_handler.setStream(stream)
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    label = "each to a new sequence name" if named else "different each time"
    rows.append(Row(f"memory over 10,000 warm deliveries, {label} (tracemalloc, after gc)",
                    f"{grown / 1024:+.1f} KiB", target="< +64 KiB (no per-delivery growth)",
                    ok=grown < 64 * 1024))  # fmt: skip


def start_aws(moto: MotoServer) -> dict[str, str]:
    urllib3.PoolManager().request("POST", f"{moto.url}/moto-api/reset")
    secrets = moto.client("secretsmanager")
    secrets.create_secret(Name="bench/api-key", SecretString=json.dumps({"apiKey": API_KEY}))
    secrets.create_secret(Name="bench/zapier", SecretString=TOKEN)
    queue = moto.client("sqs").create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    table = create_idempotency_table(moto, f"bench-{uuid.uuid4().hex[:8]}")
    reference_table = create_idempotency_table(moto, f"bench-ref-{uuid.uuid4().hex[:8]}")
    create_table(moto, LINKS_TABLE)
    return {"queue": queue, "table": table, "reference_table": reference_table}


def environment(moto: MotoServer, sandbox: SkipcallSandbox | SandboxProcess, aws: dict[str, str],
                sources: Path) -> dict[str, str]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(receiver_environment(moto.url, sandbox.url, aws["queue"], sources))
    env.update({
        "SKIPCALL_API_KEY_SECRET_ID": "bench/api-key",
        "IDEMPOTENCY_TABLE": aws["table"],
        "BENCH_TABLE": aws["table"],
        "BENCH_REFERENCE_TABLE": aws["reference_table"],
        "POWERTOOLS_METRICS_DISABLED": "true",
        "AWS_DEFAULT_REGION": devdata.REGION,
        "BENCH_CREATOR_ID": CREATOR,
    })  # fmt: skip
    return env


@contextlib.contextmanager
def applied(env: dict[str, str]) -> Any:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    from skipcall_bridge.runtime import current_runtime

    current_runtime.cache_clear()
    try:
        yield current_runtime
    finally:
        current_runtime.cache_clear()
        os.environ.clear()
        os.environ.update(saved)


def calls(moto: MotoServer, sources: Path, rows: list[Row]) -> None:
    from skipcall_bridge.aws.config import aws_session
    from skipcall_bridge.handler import lambda_handler
    from skipcall_bridge_dev.gateway import LocalContext

    sandbox = SkipcallSandbox({API_KEY}, devdata.MEMBERS, rate_limit=100_000).start()
    env = environment(moto, sandbox, start_aws(moto), sources)
    secret_reads: Counter[str] = Counter()
    aws_session().register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: secret_reads.update(["read"])
    )
    with applied(env), contextlib.redirect_stdout(io.StringIO()):
        logger.setLevel("WARNING")
        answer = lambda_handler(event_for(body("first")), LocalContext(25, "bench"))
        assert answer["statusCode"] == 201, answer
        first_reads, first_connections = secret_reads["read"], sandbox.state.connections
        for index in range(1000):
            answer = lambda_handler(event_for(body(f"calls {index}")), LocalContext(25, "bench"))
            assert answer["statusCode"] == 201, answer
        logger.setLevel("INFO")
    reads = secret_reads["read"] - first_reads
    connections = sandbox.state.connections
    sandbox.stop()
    rows.append(Row("calls over 1,000 warm deliveries (real client, sandbox, moto)",
                    f"{reads} secret reads, {connections} TCP connection(s)",
                    f"first delivery: {first_reads} reads, {first_connections} connection",
                    target="0 reads, 1 connection",
                    ok=reads == 0 and connections == 1))  # fmt: skip


def burst(moto: MotoServer, sources: Path, rows: list[Row]) -> None:
    from skipcall_bridge.handler import lambda_handler
    from skipcall_bridge.runtime import replayer_of
    from skipcall_bridge_dev.gateway import LocalContext

    sandbox = SkipcallSandbox({API_KEY}, devdata.MEMBERS, rate_limit=100, window_seconds=2).start()
    env = environment(moto, sandbox, start_aws(moto), sources)
    names = [f"burst {index}" for index in range(1000)]
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    with applied(env) as current_runtime, contextlib.redirect_stdout(io.StringIO()):
        logger.setLevel("ERROR")
        for name in names:
            answer = lambda_handler(event_for(body(name)), LocalContext(25, "bench"))
            statuses[int(answer["statusCode"])] += 1
        runtime = current_runtime()
        for _ in range(10):
            summary = replayer_of(runtime).run(ReplayFilter())
            if not summary.counts:
                break
        logger.setLevel("INFO")
    elapsed = time.monotonic() - started
    created = Counter(s["request"]["name"] for s in sandbox.sequences)
    lost = sum(1 for name in names if created[name] == 0)
    duplicates = sum(count - 1 for count in created.values() if count > 1)
    throttled = sandbox.state.throttled
    sandbox.stop()
    rows.append(Row("burst: 1,000 deliveries at 100 per 2 s window, then the replay drain",
                    f"lost {lost}, duplicates {duplicates}, 429s received {throttled}",
                    f"201: {statuses[201]}, 202: {statuses[202]}, {elapsed:.0f} s in all",
                    target="0 lost, 0 duplicates", ok=lost == 0 and duplicates == 0))  # fmt: skip


IDENTITY_SOURCES = {
    "sources": {
        "crm": {
            "auth": {"scheme": "bearer", "secretId": "bench/zapier"},
            "defaultRegion": "FR",
            "sequence": {"name": "{{ name }}", "creatorId": "{{ member(owner) }}",
                         "assignedToIds": "{{ member(owner) }}",
                         "contactIds": "{{ [contact(person)] }}"},
        }
    }
}  # fmt: skip


def identity(moto: MotoServer, rows: list[Row]) -> None:
    """member() and contact() over a burst: the directory is read once, the contact created
    once, everything else served from the cache and the link table (counted by the metrics)."""
    from skipcall_bridge.handler import lambda_handler
    from skipcall_bridge_dev.gateway import LocalContext

    sources = Path(tempfile.mkdtemp()) / "identity.json"
    sources.write_text(json.dumps(IDENTITY_SOURCES))
    sandbox = SkipcallSandbox({API_KEY}, devdata.MEMBERS, rate_limit=100_000).start()
    env = environment(moto, sandbox, start_aws(moto), sources)
    env.pop("POWERTOOLS_METRICS_DISABLED")
    emitted = io.StringIO()
    person = {"id": "crm-1", "firstName": "Ada", "lastName": "Lovelace", "phone": "06 12 34 56 78"}
    with applied(env), contextlib.redirect_stdout(emitted):
        logger.setLevel("WARNING")
        for index in range(500):
            payload = json.dumps({"name": f"id {index}", "owner": "owner@example.com",
                                  "person": person}).encode()  # fmt: skip
            event = to_event("POST", "/webhooks/crm", [("Authorization", f"Bearer {TOKEN}")],
                             payload, "bench.example.com")  # fmt: skip
            assert lambda_handler(event, LocalContext(25, "bench"))["statusCode"] == 201
        logger.setLevel("INFO")
    totals: Counter[str] = Counter()
    for line in emitted.getvalue().splitlines():
        if line.startswith('{"_aws"'):
            record = json.loads(line)
            for name in ("MemberCacheHits", "ContactLinkHits", "MemberDirectoryReads",
                         "ContactsCreated"):  # fmt: skip
                totals[name] += int(sum(record.get(name, [])))
    calls = sandbox.state.calls
    sandbox.stop()
    ok = calls["GET /v1/users"] == 1 and calls["POST /v1/contacts"] == 1
    rows.append(Row("identity: 500 deliveries, member(email) + contact(person)",
                    f"GET /v1/users {calls['GET /v1/users']}, POST /v1/contacts "
                    f"{calls['POST /v1/contacts']}",
                    f"cache hits: members {totals['MemberCacheHits']}, "
                    f"contact links {totals['ContactLinkHits']}",
                    target="1 and 1", ok=ok))  # fmt: skip


def zip_size(rows: list[Row]) -> None:
    size = ZIP.stat().st_size / 1e6
    rows.append(Row("arm64 deployment zip", f"{size:.1f} MB", target="<= 20 MB", ok=size <= 20))


def print_table(rows: list[Row]) -> None:
    headers = ("metric", "skipcall-bridge", "reference / detail", "ratio", "target", "")
    verdicts = {None: "", True: "ok", False: "MISSED"}
    cells = [headers] + [
        (r.metric, r.ours, r.reference, r.ratio, r.target, verdicts[r.ok]) for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
        if index == 0:
            print("  ".join("-" * width for width in widths))


def main() -> int:
    rows: list[Row] = []
    moto = MotoServer("127.0.0.1", 0).start()
    tmp = Path(tempfile.mkdtemp()) / "sources.json"
    tmp.write_text(json.dumps(SOURCES))
    sandbox = SkipcallSandbox({API_KEY}, devdata.MEMBERS, rate_limit=100_000).start()
    try:
        print("measuring cold starts in fresh interpreters...", file=sys.stderr)
        cold_env = environment(moto, sandbox, start_aws(moto), tmp)
        del cold_env["IDEMPOTENCY_TABLE"]  # like the reference: secret + POST (see the next row)
        cold(cold_env, rows)
        print("measuring the warm path...", file=sys.stderr)
        warm(rows)
        print("measuring the whole handler warm, next to a plain Powertools receiver...",
              file=sys.stderr)  # fmt: skip
        warm_handler(moto, tmp, rows)
        print("watching memory over 10,000 deliveries...", file=sys.stderr)
        no_growth(rows)
        no_growth(rows, named=True)
        print("counting calls over 1,000 deliveries...", file=sys.stderr)
        calls(moto, tmp, rows)
        print("running the burst...", file=sys.stderr)
        burst(moto, tmp, rows)
        print("resolving identities...", file=sys.stderr)
        identity(moto, rows)
        zip_size(rows)
    finally:
        sandbox.stop()
        moto.stop()
        tmp.unlink(missing_ok=True)
    print(f"\nskipcall-bridge benchmark, Python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    print_table(rows)
    missed = [row.metric.strip() for row in rows if row.ok is False]
    if missed:
        print(f"\nMISSED: {'; '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
