"""Deduplication (Powertools idempotency on DynamoDB) and the DLQ replay, against moto."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import threading
import time
from pathlib import Path

import pytest

from skipcall_bridge.acting.core import ActingCore
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.letters.replay import Replayer, ReplayFilter, ReplaySummary
from skipcall_bridge.receive.inbound import InboundDelivery
from skipcall_bridge.runtime import build_runtime, current_runtime
from skipcall_bridge.settings import Settings
from skipcall_bridge.skipcall.models import CreateResult, CreateSequenceDto
from skipcall_bridge.verify import Headers, SignedRequest
from skipcall_bridge_dev.gateway import LocalContext

from .conftest import BEARER_TOKEN, CREATOR, EVENT, SOURCES, SW_SECRET, Receiver, first_answer


def replay(max_attempts: int = 10, **filters: object) -> ReplaySummary:
    runtime = current_runtime()
    replayer = Replayer(runtime.catalog, runtime.dead_letters, runtime.skipcall, runtime.guard,
                        namer=runtime.namer, max_attempts=max_attempts)  # fmt: skip
    return replayer.run(ReplayFilter(**filters))  # type: ignore[arg-type]


def test_a_repeated_delivery_gets_the_first_answer_and_no_second_call(receiver: Receiver) -> None:
    first = receiver.bearer(EVENT)
    again = receiver.bearer(EVENT)
    assert first.status == again.status == 201
    assert first_answer(again.body) == first.body  # the same sequence ids
    assert [e["duplicate"] for e in again.body["events"]] == [True]
    assert receiver.sandbox.state.requests == 1


def test_a_repeated_dead_lettered_delivery_is_202_with_one_letter(receiver: Receiver) -> None:
    receiver.sandbox.inject("status", status=503, count=4)
    first = receiver.bearer(EVENT)
    again = receiver.bearer(EVENT)
    assert first.status == again.status == 202
    assert first_answer(again.body) == first.body
    assert len(receiver.dead_letters()) == 1
    assert receiver.sandbox.state.requests == 4


def test_a_repeated_unmapped_or_unreadable_delivery_keeps_its_answer(receiver: Receiver) -> None:
    assert receiver.bearer({"name": "x"}).status == 422
    assert receiver.bearer({"name": "x"}).status == 422
    headers = {"Authorization": f"Bearer {BEARER_TOKEN}"}
    assert receiver.post("zapier", b"{not json", headers).status == 400
    assert receiver.post("zapier", b"{not json", headers).status == 400
    assert [letter["reason"] for letter in receiver.dead_letters()] == ["MAPPING_FAILED"] * 2


def standard_webhook(body: bytes, message_id: str) -> dict[str, str]:
    """Headers a Standard Webhooks sender would send for this body under this message id."""
    timestamp = str(int(time.time()))
    key = base64.b64decode(SW_SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    signature = base64.b64encode(digest.digest()).decode()
    return {"webhook-id": message_id, "webhook-timestamp": timestamp,
            "webhook-signature": f"v1,{signature}"}  # fmt: skip


def test_the_same_delivery_id_with_another_body_is_409(receiver: Receiver) -> None:
    body = json.dumps(EVENT).encode()
    assert receiver.post("n8n", body, standard_webhook(body, "msg_1")).status == 201
    other = json.dumps({**EVENT, "name": "changed"}).encode()
    answer = receiver.post("n8n", other, standard_webhook(other, "msg_1"))
    assert (answer.status, answer.body["error"]["code"]) == (409, "DELIVERY_CONFLICT")
    assert len(receiver.sandbox.sequences) == 1


def test_an_unreachable_table_is_503_never_a_delivery_without_deduplication(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "no-such-table")
    current_runtime.cache_clear()
    answer = receiver.bearer(EVENT)
    assert (answer.status, answer.body["error"]["code"]) == (503, "UNAVAILABLE")
    assert receiver.sandbox.state.requests == 0


def deliver_directly(settings: Settings, body: bytes, context: LocalContext):  # type: ignore[no-untyped-def]
    """Another container: its own runtime, called without the HTTP layer (thread-safe)."""
    runtime = build_runtime(settings)
    request = SignedRequest("POST", "https://h/webhooks/zapier", body,
                            Headers({"Authorization": f"Bearer {BEARER_TOKEN}"}))  # fmt: skip
    runtime.guard.register(context)  # what the handler does for each invocation
    delivery = InboundDelivery("zapier", request)
    return runtime.pipeline.process(delivery, context.get_remaining_time_in_millis() / 1000)


def test_a_duplicate_while_the_first_is_running_is_503_retry_after(receiver: Receiver) -> None:
    receiver.sandbox.inject("slow", seconds=1.5)
    settings = Settings.from_environ()
    body = json.dumps(EVENT).encode()
    first = threading.Thread(target=deliver_directly, args=(settings, body, LocalContext(25, "a")))
    first.start()
    # the first delivery holds its claim once its create reached Skipcall
    assert receiver.sandbox.wait_until(lambda s: s.in_flight >= 1)
    answer = receiver.bearer(EVENT)
    first.join()
    assert (answer.status, answer.headers["Retry-After"]) == (503, "5")
    assert len(receiver.sandbox.sequences) == 1
    assert receiver.bearer(EVENT).status == 201  # now the first answer comes back


class Killed(BaseException):
    """What a Lambda timeout looks like from inside: the run stops, nothing cleans up."""


class KilledSkipcall:
    def create(self, dto: CreateSequenceDto, deadline: Deadline) -> CreateResult:
        raise Killed


def test_an_interrupted_run_blocks_retries_only_until_its_answer_was_due(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its claims lapse when its answer was due (here the Lambda's 2 s, less than the budget),
    plus a margin for its last writes, set to 0 here (test_idempotency_store.py tests it).
    Each run reads its own clock: the retries come 1 s and 2.5 s after the run's start, with
    no waiting."""
    from skipcall_bridge.aws import idempotency

    monkeypatch.setattr(idempotency, "LAPSE_MARGIN_SECONDS", 0.0)
    settings = Settings.from_environ()
    started = time.time()
    runtime = build_runtime(settings, wall_clock=lambda: started)
    ports = runtime.pipeline._ports
    killed = ActingCore(KilledSkipcall(), runtime.namer, runtime.identity)
    runtime.pipeline._ports = dataclasses.replace(ports, acting=killed)
    body = json.dumps(EVENT).encode()
    request = SignedRequest("POST", "https://h/webhooks/zapier", body,
                            Headers({"Authorization": f"Bearer {BEARER_TOKEN}"}))  # fmt: skip
    runtime.guard.register(LocalContext(2.0, "dying"))
    with pytest.raises(Killed):
        runtime.pipeline.process(InboundDelivery("zapier", request), 2.0)

    soon = build_runtime(settings, wall_clock=lambda: started + 1.0)
    soon.guard.register(LocalContext(25.0, "retry"))
    waiting = soon.pipeline.process(InboundDelivery("zapier", request), 25.0)
    # still "in progress": left unfinished, and the sender is answered 503 with Retry-After
    assert [event.status for event in waiting.events] == ["unfinished"]
    later = build_runtime(settings, wall_clock=lambda: started + 2.5)  # its Lambda time is over
    later.guard.register(LocalContext(25.0, "retry"))
    report = later.pipeline.process(InboundDelivery("zapier", request), 25.0)
    assert [event.status for event in report.events] == ["created"]
    assert len(receiver.sandbox.sequences) == 1


def test_replay_creates_each_dead_letter_once_and_senders_keep_the_first_answer(
    receiver: Receiver,
) -> None:
    receiver.sandbox.inject("status", status=503, count=8)
    first = receiver.bearer(EVENT)
    second = receiver.bearer({**EVENT, "name": "second"})
    assert first.status == second.status == 202
    summary = replay()
    assert summary.total("replayed") == 2
    assert sorted(s["name"] for s in receiver.sandbox.sequences) == ["Call Ada", "second"]
    assert receiver.dead_letters() == []
    # a sender retry after the replay: no new call
    assert first_answer(receiver.bearer(EVENT).body) == first.body
    assert replay().total("replayed") == 0
    assert len(receiver.sandbox.sequences) == 2


def test_a_replayed_message_that_comes_back_is_not_created_again(receiver: Receiver) -> None:
    receiver.sandbox.inject("status", status=503, count=4)
    receiver.bearer(EVENT)
    (letter,) = receiver.dead_letters()
    letter.pop("_attributes")
    raw = letter.pop("_raw")
    sqs = receiver.moto.client("sqs")
    for _ in range(2):  # as if the delete after a successful replay had failed
        sqs.send_message(QueueUrl=receiver.queue_url, MessageBody=raw)
    summary = replay()
    assert (summary.total("replayed"), summary.total("already-created")) == (1, 1)
    assert len(receiver.sandbox.sequences) == 1


def test_attempts_count_replay_runs_and_given_up_letters_are_kept_until_asked(
    receiver: Receiver,
) -> None:
    receiver.sandbox.inject("status", status=503, count=100)
    receiver.bearer(EVENT)  # the receiver's try: attempts 1, whatever its HTTP calls
    sqs = receiver.moto.client("sqs")

    def letter_after(summary: ReplaySummary, outcome: str) -> dict[str, object]:
        assert summary.counts[("SKIPCALL_UNAVAILABLE", outcome)] == 1, summary.as_dict()  # type: ignore[index]
        (letter,) = receiver.dead_letters()
        sqs.send_message(QueueUrl=receiver.queue_url, MessageBody=str(letter["_raw"]))
        return letter

    first = letter_after(replay(max_attempts=2), "failed")
    assert (first["attempts"], first["retryable"]) == (2, True)
    assert first["error"]["message"]  # type: ignore[index]
    kept = letter_after(replay(max_attempts=2), "gave-up")  # two replay runs have failed
    assert (kept["attempts"], kept["retryable"]) == (3, False)
    assert replay(max_attempts=2).total("not-retryable") == 1  # left in place
    receiver.sandbox.reset()  # Skipcall is back
    assert replay(max_attempts=2).total("replayed") == 0
    assert replay(max_attempts=2, include_given_up=True).total("replayed") == 1
    assert [s["name"] for s in receiver.sandbox.sequences] == ["Call Ada"]
    assert receiver.dead_letters() == []


def test_mapping_failures_are_re_mapped_with_the_current_sources(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert receiver.bearer({"name": "no owner"}).status == 422
    fixed = json.loads(json.dumps(SOURCES))
    fixed["sources"]["zapier"]["sequence"]["creatorId"] = CREATOR
    fixed["sources"]["zapier"]["sequence"]["assignedToIds"] = [CREATOR]
    path = tmp_path / "fixed.json"
    path.write_text(json.dumps(fixed))
    monkeypatch.setenv("SOURCES_CONFIG", str(path))
    current_runtime.cache_clear()
    summary = replay(reason=Reason.MAPPING_FAILED)
    assert summary.total("replayed") == 1
    assert [s["request"]["creatorId"] for s in receiver.sandbox.sequences] == [CREATOR]


def test_filters_and_dry_run_leave_the_queue_as_it_was(receiver: Receiver) -> None:
    receiver.sandbox.inject("status", status=503, count=4)
    receiver.bearer(EVENT)
    receiver.bearer({"name": "unmapped"})
    dry = replay(dry_run=True)  # it maps again: the unmapped one would fail again (#30 item 6)
    assert (dry.total("would-replay"), dry.total("would-fail")) == (1, 1)
    assert replay(source="make").total("replayed") == 0
    summary = replay(reason=Reason.SKIPCALL_UNAVAILABLE)
    assert summary.total("replayed") == 1
    assert summary.counts[("MAPPING_FAILED", "skipped")] == 1
    assert [letter["reason"] for letter in receiver.dead_letters()] == ["MAPPING_FAILED"]


def test_replay_paces_itself_by_the_rate_limit_headers(receiver: Receiver) -> None:
    receiver.sandbox.inject("status", status=503, count=20)
    for index in range(5):
        receiver.bearer({**EVENT, "name": f"paced {index}"})
    receiver.sandbox.reset()
    receiver.sandbox.state.rate_limit, receiver.sandbox.state.window_seconds = 2, 1.0
    started = time.monotonic()
    summary = replay()
    assert summary.total("replayed") == 5
    assert receiver.sandbox.state.throttled == 0  # it waited for the window instead
    assert time.monotonic() - started >= 1.0


def test_replay_defers_what_deduplication_cannot_vouch_for(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.sandbox.inject("status", status=503, count=4)
    receiver.bearer(EVENT)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "no-such-table")
    current_runtime.cache_clear()
    assert replay().total("busy") == 1
    assert receiver.sandbox.sequences == []
    assert len(receiver.dead_letters()) == 1


def test_an_unknown_outcome_waits_for_a_person_or_the_sources_opt_in(
    receiver: Receiver,
) -> None:
    """Skipcall has no idempotency key: a create that timed out may exist. It is never sent
    again unless a person asks (--include-unknown) or the source prefers a rare duplicate."""
    receiver.sandbox.inject("slow", seconds=2.5)  # answers late, but creates the sequence
    answer = receiver.bearer(EVENT, source="quick")  # budgetSeconds: 1
    assert answer.status == 202
    assert answer.body["deadLettered"][0]["reason"] == "OUTCOME_UNKNOWN"
    # the sandbox finishes creating after the receiver gave up
    assert receiver.sandbox.wait_until(lambda s: s.in_flight == 0 and len(s.sequences) == 1)
    assert len(receiver.sandbox.sequences) == 1
    summary = replay()
    assert (summary.total("replayed"), summary.total("not-retryable")) == (0, 1)
    assert len(receiver.sandbox.sequences) == 1  # no blind duplicate
    assert replay(include_unknown=True).total("replayed") == 1
    assert len(receiver.sandbox.sequences) == 2  # the duplicate the person accepted

    receiver.sandbox.inject("slow", seconds=2.5)
    assert receiver.bearer({**EVENT, "name": "eager"}, source="eager").status == 202
    assert receiver.sandbox.wait_until(lambda s: s.in_flight == 0 and len(s.sequences) == 3)
    assert replay().total("replayed") == 1  # onUnknownOutcome: "retry"


def test_the_replay_function_as_lambda_calls_it(receiver: Receiver) -> None:
    """ReplayFunction's entry point: what the schedule invokes, with a Lambda context."""
    from skipcall_bridge.replay_handler import lambda_handler

    receiver.sandbox.inject("status", status=503, count=4)
    assert receiver.bearer(EVENT).status == 202
    result = lambda_handler({}, LocalContext(60, "ReplayFunction"))
    assert result == {"outcomes": {"SKIPCALL_UNAVAILABLE": {"replayed": 1}}}
    assert [s["name"] for s in receiver.sandbox.sequences] == ["Call Ada"]
