"""The deduplication store's conditional writes on moto's DynamoDB, over HTTP: what a claim
(and a take) gets back in each state of a record, when a claim lapses, and that the items are
the ones Powertools idempotency wrote before (a table from an earlier version reads the same).
The clocks are injected: nothing here waits."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3

from skipcall_bridge.aws.idempotency import DynamoDbIdempotency, record_id
from skipcall_bridge.common.budget import CallWindow, Deadline
from skipcall_bridge.common.errors import DeliveryConflict, InProgress
from skipcall_bridge_dev.moto_stack import MotoServer, create_idempotency_table

NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Context:
    """A Lambda context with `seconds` left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


@pytest.fixture
def table(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    urllib3.PoolManager().request("POST", f"{moto.url}/moto-api/reset")
    for name, value in {
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    return create_idempotency_table(moto, "store-test")


def key(delivery: str = "d1", payload: Any = None) -> dict[str, Any]:
    return {"source": "s", "deliveryId": delivery, "phase": "receive", "payload": payload or {}}


def test_claim_complete_and_release(table: str) -> None:
    store = DynamoDbIdempotency(table, 3600, "us-east-1", wall_clock=Clock(NOW))
    assert store.claim(key()) is None  # held now
    with pytest.raises(InProgress):
        store.claim(key())
    store.complete(key(), {"status": "created", "n": 1})
    assert store.claim(key()) == {"status": "created", "n": 1}  # a completed record's outcome
    with pytest.raises(DeliveryConflict):
        store.claim(key(payload={"other": True}))
    assert store.claim(key("d2")) is None
    store.release(key("d2"))
    assert store.claim(key("d2")) is None  # released: a later run does it


def test_a_record_is_taken_only_while_it_is_the_one_the_run_read(table: str) -> None:
    """The worker and the replay hold an event's one key by taking the receiver's record: one
    run at a time, and never over a record that changed after it was read (review #28)."""
    clock = Clock(NOW)
    store = DynamoDbIdempotency(table, 3600, "us-east-1", wall_clock=clock)
    deferred = {"status": "deferred", "deliveryId": "d1"}
    assert store.claim(key()) is None
    store.complete(key(), deferred)
    found = store.claim(key())
    assert found == deferred
    assert store.take(key(), found) is None  # held by this run now
    with pytest.raises(InProgress):  # a second run, and a sender's repeat, wait
        store.take(key(), found)
    with pytest.raises(InProgress):
        store.claim(key())
    done = {**deferred, "finished": {"action": "create", "sequenceId": "s1"}}
    store.complete(key(), done)
    assert store.take(key(), found) == done  # it changed: what it says now, not held
    assert store.claim(key()) == done
    store.release(key())
    assert store.take(key(), found) is None  # gone: claimed as any absent key
    with pytest.raises(DeliveryConflict):
        store.take(key(payload={"other": True}), found)


def test_a_record_past_its_expiry_is_claimed_afresh(table: str) -> None:
    clock = Clock(NOW)
    store = DynamoDbIdempotency(table, 60, "us-east-1", wall_clock=clock)
    assert store.claim(key()) is None
    store.complete(key(), {"status": "created"})
    clock.now += 61
    assert store.claim(key()) is None


def test_a_deliverys_claim_lapses_once_it_is_answered_not_at_the_invocations_end(
    table: str,
) -> None:
    """Claims a delivery took and never finished (its budget ran out) are free for the sender's
    retry soon after the answer, not held for the rest of the 25 s invocation: else every
    retry in that time is 503 again."""
    wall, monotonic = Clock(NOW), Clock(0.0)
    window = CallWindow()
    store = DynamoDbIdempotency(table, 3600, "us-east-1", window, wall_clock=wall)
    store.register(Context(25.0))
    window.bind(Deadline(5.0, monotonic))  # the answer is due in 5 s
    assert store.claim(key()) is None
    window.bind(None)
    wall.now += 5.0  # answered: the retry comes
    with pytest.raises(InProgress):
        store.claim(key())  # within the margin its last writes may still land
    wall.now += 2.5
    assert store.claim(key()) is None  # 7.5 s after: the retry takes it, not at 25 s


def test_a_claim_outside_a_delivery_lapses_with_the_invocation(table: str) -> None:
    wall = Clock(NOW)
    store = DynamoDbIdempotency(table, 3600, "us-east-1", CallWindow(), wall_clock=wall)
    store.register(Context(60.0))  # the worker's invocation
    assert store.claim(key()) is None
    wall.now += 59
    with pytest.raises(InProgress):
        store.claim(key())
    wall.now += 2
    assert store.claim(key()) is None


def test_a_payload_nested_500_deep_is_claimed(table: str) -> None:
    deep: Any = "bottom"
    for _ in range(500):
        deep = [deep]
    store = DynamoDbIdempotency(table, 3600, "us-east-1", wall_clock=Clock(NOW))
    assert store.claim(key(payload=deep)) is None
    store.complete(key(payload=deep), {"status": "created"})
    assert store.claim(key(payload=deep)) == {"status": "created"}


def test_the_items_are_those_powertools_idempotency_wrote(table: str, moto: MotoServer) -> None:
    """Powertools' own persistence layer (the one earlier versions used) as the oracle: it
    reads our record, and ours reads its."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
    )

    config = IdempotencyConfig(
        event_key_jmespath="[source, deliveryId, phase]",
        payload_validation_jmespath="payload",
        raise_on_no_idempotency_key=True,
        hash_function="sha256",
    )
    layer = DynamoDBPersistenceLayer(table_name=table, boto3_client=moto.client("dynamodb"))
    layer.configure(config, key_prefix="skipcall-bridge")
    ours = DynamoDbIdempotency(table, 3600, "us-east-1")
    theirs_key = key("written-by-powertools", {"a": [1, 2]})
    layer.save_inprogress(data=theirs_key, remaining_time_in_millis=10_000)
    layer.save_success(data=theirs_key, result={"status": "created"})
    assert ours.claim(theirs_key) == {"status": "created"}

    our_key = key("written-by-us", {"b": "c"})
    assert ours.claim(our_key) is None
    ours.complete(our_key, {"status": "enrolled"})
    record = layer.get_record(data=our_key)  # validates the payload's hash too
    assert json.loads(record.response_data or "{}") == {"status": "enrolled"}
    assert record.idempotency_key == record_id(our_key)
