"""Single-use JWTs (`singleUse`) on moto: the token's hash lives in the idempotency table, so a
captured token is refused with another body in every container, until its `exp`."""

from __future__ import annotations

import hashlib

import pytest

from skipcall_bridge.aws.token_ledger import PREFIX, DynamoDbTokenLedger
from skipcall_bridge.common.errors import Unavailable
from skipcall_bridge_dev.moto_stack import IDEMPOTENCY_TABLE

from .conftest import Receiver


def test_a_token_is_bound_to_its_first_body_across_containers(receiver: Receiver) -> None:
    first, second = DynamoDbTokenLedger(IDEMPOTENCY_TABLE), DynamoDbTokenLedger(IDEMPOTENCY_TABLE)
    token = hashlib.sha256(b"a.jwt.token").hexdigest()
    assert first.bind(f"monday#{token}", "body-1", 1_795_661_130)
    assert second.bind(f"monday#{token}", "body-1", 1_795_661_130)  # the sender's retry
    assert not second.bind(f"monday#{token}", "body-2", 1_795_661_130)  # another body
    assert first.bind(f"other#{token}", "body-2", 1_795_661_130)  # another source's key
    item = receiver.moto.client("dynamodb").get_item(
        TableName=IDEMPOTENCY_TABLE, Key={"id": {"S": f"{PREFIX}monday#{token}"}}
    )["Item"]
    assert item["expiration"] == {"N": "1795661130"}  # the table's TTL ends it with the token
    assert item["body"] == {"S": "body-1"}


def test_a_table_that_cannot_be_written_is_unavailable_never_a_pass(receiver: Receiver) -> None:
    ledger = DynamoDbTokenLedger("no-such-table")
    with pytest.raises(Unavailable):
        ledger.bind("monday#x", "body", 1_795_661_130)
