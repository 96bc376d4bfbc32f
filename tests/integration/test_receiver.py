"""The real handler against moto (server mode) and the Skipcall sandbox, over real HTTP."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Iterator

import pytest
import urllib3

from skipcall_bridge.common.observability import logger
from skipcall_bridge.verify.hmac_sha256 import HmacSha256Verifier
from skipcall_bridge.verify.standard_webhooks import StandardWebhooksVerifier

from .conftest import (
    API_KEY,
    BEARER_TOKEN,
    CREATOR,
    EVENT,
    EVERY_SECRET,
    HMAC_SECRET,
    REP,
    SW_SECRET,
    Receiver,
)


def make_headers(body: bytes, secret: str = HMAC_SECRET) -> dict[str, str]:
    return HmacSha256Verifier("X-Signature", "base64", "").sign(body, secret, 0, method="", url="")


def n8n_headers(body: bytes, prefix: str = "webhook") -> dict[str, str]:
    signed = StandardWebhooksVerifier(300).sign(body, SW_SECRET, time.time(), method="", url="")
    return {name.replace("webhook", prefix): value for name, value in signed.items()}


def test_bearer_delivery_creates_a_sequence(receiver: Receiver) -> None:
    answer = receiver.bearer({**EVENT, "contactIds": []})
    assert answer.status == 201, answer.body
    assert answer.body["status"] == "created"
    (sequence,) = answer.body["sequences"]
    (stored,) = receiver.sandbox.sequences
    assert sequence["id"] == stored["id"]
    assert stored["request"] == {
        "name": "Call Ada",
        "creatorId": CREATOR,
        "assignedToIds": [CREATOR, REP],
    }
    assert receiver.dead_letters() == []


def test_standard_webhooks_with_svix_headers(receiver: Receiver) -> None:
    body = json.dumps(EVENT).encode()
    answer = receiver.post("n8n", body, n8n_headers(body, prefix="svix"))
    assert answer.status == 201, answer.body


def test_hmac_over_a_base64_encoded_body_with_a_rotating_secret(receiver: Receiver) -> None:
    body = json.dumps({"leads": [EVENT, {**EVENT, "name": "Call Alan"}]}).encode()
    answer = receiver.post(
        "make", body, make_headers(body), content_type="application/octet-stream"
    )
    assert answer.status == 201, answer.body
    assert sorted(s["name"] for s in receiver.sandbox.sequences) == ["Call Ada", "Call Alan"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"X-Api-Key": BEARER_TOKEN[:-1]}],
)
def test_a_failed_check_is_401_and_nothing_else_happens(
    receiver: Receiver, headers: dict[str, str]
) -> None:
    answer = receiver.post("zapier", EVENT, headers)
    assert answer.status == 401
    assert answer.body == {
        "error": {
            "code": "INVALID_SIGNATURE",
            "message": "The request signature could not be verified.",
            "status": 401,
        }
    }
    assert receiver.sandbox.state.requests == 0
    assert receiver.dead_letters() == []


def test_a_stale_standard_webhooks_timestamp_is_401(receiver: Receiver) -> None:
    body = json.dumps(EVENT).encode()
    stale = StandardWebhooksVerifier(300).sign(
        body, SW_SECRET, time.time() - 301, method="", url=""
    )
    assert receiver.post("n8n", body, stale).status == 401


def test_unknown_source_and_unknown_route_are_404(receiver: Receiver) -> None:
    answer = receiver.bearer(EVENT, source="nobody")
    assert (answer.status, answer.body["error"]["code"]) == (404, "UNKNOWN_SOURCE")
    event = receiver.post("zapier", EVENT, {})
    assert event.status == 401  # sanity: the route exists
    from skipcall_bridge_dev.gateway import to_event

    missing = receiver.invoke(to_event("GET", "/webhooks/zapier", [], b"", "h"))
    assert (missing.status, missing.body["error"]["code"]) == (404, "NOT_FOUND")


def test_too_large_is_413(receiver: Receiver) -> None:
    answer = receiver.bearer({**EVENT, "padding": "x" * (256 * 1024)})
    assert (answer.status, answer.body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_invalid_json_is_400_and_kept_in_the_dlq_as_the_raw_body(receiver: Receiver) -> None:
    body = b'{"name": \xff\xfe'  # not JSON, not even UTF-8
    answer = receiver.post("zapier", body, {"Authorization": f"Bearer {BEARER_TOKEN}"})
    assert (answer.status, answer.body["error"]["code"]) == (400, "INVALID_JSON")
    (letter,) = receiver.dead_letters()
    assert (letter["payloadEncoding"], letter["payloadScope"]) == ("base64", "body")
    assert base64.b64decode(letter["payload"]) == body
    assert letter["reason"] == "MAPPING_FAILED"


def test_a_payload_that_does_not_map_is_422_and_dead_lettered(receiver: Receiver) -> None:
    answer = receiver.bearer({"name": "no owner"})
    assert answer.status == 422
    error = answer.body["error"]
    assert error["code"] == "MAPPING_FAILED"
    assert {d["field"] for d in error["details"]} == {"creatorId", "assignedToIds"}
    (letter,) = receiver.dead_letters()
    assert set(letter) - {"_attributes", "_raw"} == {
        "version", "source", "deliveryId", "receivedAt", "reason", "retryable",
        "attempts", "error", "sequence", "action", "payload", "payloadEncoding",
        "payloadScope", "eventIndex",
    }  # fmt: skip
    assert letter["action"] is None  # not mapped: the replay maps it again
    assert (letter["payloadEncoding"], letter["payloadScope"]) == ("json", "event")
    assert letter["_attributes"] == {"source": "zapier", "reason": "MAPPING_FAILED"}
    assert (letter["version"], letter["sequence"]) == (1, None)
    assert receiver.sandbox.state.requests == 0
    # #23 item 4: a resend is answered from the record, and says so (a fixed mapping reaches
    # the event through the replay of its letter, not through the resend)
    again = receiver.bearer({"name": "no owner"})
    assert again.status == 422
    assert all(detail["duplicate"] for detail in again.body["error"]["details"])
    assert "seen before" in again.body["error"]["message"]
    assert receiver.dead_letters() == []  # the first read took the one letter: no second


def test_one_unmappable_event_of_a_batch_is_partial(receiver: Receiver) -> None:
    body = json.dumps({"leads": [EVENT, {"name": "orphan"}]}).encode()
    answer = receiver.post("make", body, make_headers(body))
    assert answer.status == 202
    assert answer.body["status"] == "partial"
    assert [d["reason"] for d in answer.body["deadLettered"]] == ["MAPPING_FAILED"]
    assert len(receiver.sandbox.sequences) == 1


def test_skipcall_down_is_retried_then_dead_lettered_with_202(receiver: Receiver) -> None:
    receiver.sandbox.inject("status", status=503, count=10)
    answer = receiver.bearer(EVENT)
    assert answer.status == 202
    assert answer.body["status"] == "dead-lettered"
    (letter,) = receiver.dead_letters()
    assert letter["reason"] == "SKIPCALL_UNAVAILABLE"
    assert letter["retryable"] is True
    assert letter["attempts"] == 1  # deliveries: the receiver's try (it made 4 HTTP calls)
    assert receiver.sandbox.state.requests == 4
    assert letter["error"]["status"] == 503
    assert letter["sequence"] == {
        "name": "Call Ada",
        "creatorId": CREATOR,
        "assignedToIds": [CREATOR, REP],
    }
    assert letter["payload"] == EVENT
    assert answer.body["deadLettered"] == [
        {"deliveryId": letter["deliveryId"], "reason": "SKIPCALL_UNAVAILABLE"}
    ]


def test_a_503_proves_nothing_was_done_and_is_retried_into_one_sequence(
    receiver: Receiver,
) -> None:
    receiver.sandbox.inject("status", status=503, count=2)
    answer = receiver.bearer(EVENT)
    assert answer.status == 201, answer.body
    assert len(receiver.sandbox.sequences) == 1
    assert receiver.sandbox.state.requests == 3


def test_a_refused_connection_is_a_retryable_failure(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skipcall_bridge.runtime import current_runtime

    monkeypatch.setenv("SKIPCALL_API_URL", "http://127.0.0.1:9")  # discard port: refused
    current_runtime.cache_clear()
    answer = receiver.bearer(EVENT)
    assert answer.status == 202
    (letter,) = receiver.dead_letters()
    assert (letter["reason"], letter["retryable"]) == ("SKIPCALL_UNAVAILABLE", True)
    assert letter["error"]["code"] == "NOT_CONNECTED"


@pytest.mark.parametrize(
    ("fault", "status"),
    [("status", 502), ("status", 504), ("status", 500), ("reset", 0), ("garbage", 502)],
)
def test_a_create_that_may_have_reached_skipcall_is_never_sent_twice(
    receiver: Receiver, fault: str, status: int
) -> None:
    receiver.sandbox.inject(fault, status=status, count=5)  # type: ignore[arg-type]
    answer = receiver.bearer(EVENT)
    assert answer.status == 202
    assert receiver.sandbox.state.requests == 1  # not retried inside the call
    (letter,) = receiver.dead_letters()
    assert (letter["reason"], letter["retryable"]) == ("OUTCOME_UNKNOWN", False)


def test_other_4xx_are_not_retried(receiver: Receiver) -> None:
    answer = receiver.bearer({**EVENT, "creatorId": "not-a-member"})
    assert answer.status == 202
    (letter,) = receiver.dead_letters()
    assert (letter["reason"], letter["retryable"], letter["attempts"]) == (
        "SKIPCALL_REJECTED",
        False,
        1,
    )
    assert letter["error"]["code"] == "BAD_REQUEST"
    assert receiver.sandbox.state.requests == 1


def test_a_closed_window_is_waited_out_when_its_reset_fits_the_budget(receiver: Receiver) -> None:
    """The first answer says no request is left in a 1 s window: the next call waits for the
    reset instead of meeting a 429."""
    receiver.sandbox.state.rate_limit, receiver.sandbox.state.window_seconds = 1, 1.0
    assert receiver.bearer(EVENT).status == 201
    answer = receiver.bearer({**EVENT, "name": "second"})
    assert answer.status == 201, answer.body
    assert [s["name"] for s in receiver.sandbox.sequences] == ["Call Ada", "second"]
    assert receiver.sandbox.state.throttled == 0


def test_a_closed_window_past_the_budget_is_not_called_and_is_rate_limited(
    receiver: Receiver,
) -> None:
    """The last answer left no request until a reset a minute away: no call is made (it could
    only be a 429), and the event waits for the replay, or the worker, as RATE_LIMITED."""
    receiver.sandbox.state.rate_limit, receiver.sandbox.state.window_seconds = 1, 60.0
    assert receiver.bearer(EVENT).status == 201
    answer = receiver.bearer({**EVENT, "name": "a new delivery"})
    assert answer.status == 202
    (letter,) = receiver.dead_letters()
    assert (letter["reason"], letter["retryable"]) == ("RATE_LIMITED", True)
    assert letter["error"]["code"] == "RATE_LIMIT_WINDOW"  # not sent, and nothing waited for
    assert (receiver.sandbox.state.requests, receiver.sandbox.state.throttled) == (1, 0)


def test_a_429_from_another_container_s_calls_is_still_handled(receiver: Receiver) -> None:
    """This container cannot know what other containers spent: Skipcall's 429 past the budget
    is RATE_LIMITED as before."""
    receiver.sandbox.state.rate_limit, receiver.sandbox.state.window_seconds = 1, 60.0
    urllib3.request(  # another container's call, with the same key
        "POST", f"{receiver.sandbox.url}/v1/sequences", body=json.dumps(EVENT).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )  # fmt: skip
    answer = receiver.bearer({**EVENT, "name": "meets the 429"})
    assert answer.status == 202
    (letter,) = receiver.dead_letters()
    assert (letter["reason"], letter["error"]["status"]) == ("RATE_LIMITED", 429)
    assert receiver.sandbox.state.throttled == 1


def test_a_skipcall_slower_than_the_budget_is_an_unknown_outcome(receiver: Receiver) -> None:
    receiver.sandbox.inject("slow", seconds=2.5)
    started = time.monotonic()
    answer = receiver.bearer(EVENT, source="quick")  # budgetSeconds: 1
    assert time.monotonic() - started < 2.0
    assert answer.status == 202
    (letter,) = receiver.dead_letters()
    assert letter["reason"] == "OUTCOME_UNKNOWN"  # the request went out: it may be created


def test_the_budget_never_exceeds_the_lambdas_remaining_time(receiver: Receiver) -> None:
    receiver.sandbox.inject("slow", seconds=3)
    started = time.monotonic()
    answer = receiver.bearer(EVENT, timeout=2.5)  # 4 s source budget, 2.5 s left in the Lambda
    assert time.monotonic() - started < 2.5
    assert answer.status == 202


def test_a_rotated_api_key_is_re_read_once_after_a_401(receiver: Receiver) -> None:
    assert receiver.bearer(EVENT).status == 201  # caches the current key
    receiver.sandbox.state.api_keys = {"sk_test_rotated"}
    receiver.moto.client("secretsmanager").put_secret_value(
        SecretId="it/api-key", SecretString="sk_test_rotated"
    )
    answer = receiver.bearer({**EVENT, "name": "a new delivery"})
    assert answer.status == 201, answer.body
    assert receiver.sandbox.state.requests == 3


def test_a_revoked_api_key_is_dead_lettered_for_replay(receiver: Receiver) -> None:
    receiver.sandbox.state.api_keys = set()
    answer = receiver.bearer(EVENT)
    assert answer.status == 202
    (letter,) = receiver.dead_letters()
    assert (letter["reason"], letter["retryable"], letter["attempts"]) == (
        "SKIPCALL_REJECTED",
        True,
        1,
    )
    assert letter["error"]["code"] == "UNAUTHORIZED"
    assert receiver.sandbox.state.requests == 2  # once more with the key read again


def test_dlq_unreachable_after_skipcall_failed_is_503(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skipcall_bridge.runtime import current_runtime

    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", receiver.queue_url.replace("it-dlq", "missing"))
    current_runtime.cache_clear()
    receiver.sandbox.inject("status", status=500, count=10)
    answer = receiver.bearer(EVENT)
    assert (answer.status, answer.body["error"]["code"]) == (503, "UNAVAILABLE")
    assert answer.headers["Retry-After"] == "30"


def test_secrets_manager_unreachable_is_503(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skipcall_bridge.runtime import current_runtime

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: refused
    current_runtime.cache_clear()
    answer = receiver.bearer(EVENT)
    assert (answer.status, answer.body["error"]["code"]) == (503, "UNAVAILABLE")
    assert receiver.sandbox.state.requests == 0


def test_health(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    from skipcall_bridge.runtime import current_runtime
    from skipcall_bridge_dev.gateway import to_event

    ok = receiver.invoke(to_event("GET", "/health", [], b"", "h"))
    assert (ok.status, ok.body) == (200, {"status": "ok"})
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL")
    current_runtime.cache_clear()
    broken = receiver.invoke(to_event("GET", "/health", [], b"", "h"))
    assert (broken.status, broken.body) == (503, {"status": "unavailable"})  # details: logs
    webhook = receiver.bearer(EVENT)
    assert (webhook.status, webhook.body["error"]["code"]) == (503, "UNAVAILABLE")


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line, formatted by Powertools exactly as CloudWatch would receive it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_no_secret_reaches_logs_responses_or_dead_letters(
    receiver: Receiver, log_lines: io.StringIO, capfd: pytest.CaptureFixture[str]
) -> None:
    body = json.dumps(EVENT).encode()
    batch = json.dumps({"leads": [EVENT]}).encode()
    signatures = [make_headers(body)["X-Signature"], n8n_headers(body)["webhook-signature"]]
    answers = [
        receiver.bearer(EVENT),
        receiver.post("zapier", EVENT, {"Authorization": "Bearer wrong"}),
        receiver.post("n8n", body, n8n_headers(body)),
        receiver.bearer({"name": "unmapped"}),
    ]
    receiver.sandbox.inject("status", status=500, count=10)
    answers.append(receiver.post("make", batch, make_headers(batch)))
    receiver.sandbox.state.api_keys = set()
    answers.append(receiver.bearer({**EVENT, "name": "a new delivery"}))
    letters = receiver.dead_letters()
    assert len(letters) == 3
    logs = log_lines.getvalue()
    assert logs.count("Delivery processed") == 5  # the check below read real log lines
    haystack = "\n".join(
        [logs, *capfd.readouterr()]
        + [json.dumps(answer.body) + json.dumps(answer.headers) for answer in answers]
        + [letter["_raw"] for letter in letters]
    )
    leaks = [
        *EVERY_SECRET,
        *signatures,
        f"Bearer {API_KEY}",
        base64.b64encode(API_KEY.encode()).decode(),
    ]
    for secret in leaks:
        assert secret not in haystack
