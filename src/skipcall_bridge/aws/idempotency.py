"""Deduplication on DynamoDB: one record per event, its conditional writes owned here.

A record is keyed by `[source, deliveryId, phase]` and carries the SHA-256 of the event's
fingerprint (the same id with another payload is a conflict). Its life: `claim` puts it
INPROGRESS unless a live one exists (a conditional PutItem that hands back the record it found),
`take` holds a COMPLETED record that leaves its event to a later run (a conditional UpdateItem
on the very outcome that run read: the worker and the replay hold the receiver's key this way),
`complete` stores the outcome (COMPLETED), `release` deletes it. A claim taken in a Lambda
invocation lapses when that invocation's time is up, so a run cut short does not hold it.

The items are those Powertools idempotency writes (`id` = `skipcall-bridge#<sha256 of the key
as JSON>`, `status`, `expiration`, `in_progress_expiration` in ms, `validation`, `data`), so a
table written by earlier versions reads the same. Powertools' own handler is not used: it can
only run a function between claim and complete, and deep-copies each payload, which a body
nested 500 deep cannot survive; its import also brings boto3 onto the cold start.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from skipcall_bridge.aws.config import AwsClients, condition_failed
from skipcall_bridge.common.errors import DeliveryConflict, InProgress, OutOfTime, Unavailable
from skipcall_bridge.common.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from skipcall_bridge.common.budget import CallWindow

KEY_PREFIX = "skipcall-bridge"
# A delivery's claims lapse this long after its answer is due: its last writes may land a
# little after the deadline, and a sender's retry comes later than that.
LAPSE_MARGIN_SECONDS = 2.0
INPROGRESS, COMPLETED = "INPROGRESS", "COMPLETED"

# A claim succeeds where there is no record, where it expired, or where its claim lapsed.
_CLAIMABLE = (
    "attribute_not_exists(#id) OR #expiry < :now OR "
    "(#status = :inprogress AND attribute_exists(#lapse) AND #lapse < :now_ms)"
)
_NAMES = {
    "#id": "id",
    "#expiry": "expiration",
    "#status": "status",
    "#lapse": "in_progress_expiration",
}


def record_id(key: dict[str, Any]) -> str:
    """The item's `id`: the key's hash, as Powertools idempotency writes it."""
    selected = [key.get("source"), key.get("deliveryId"), key.get("phase")]
    return f"{KEY_PREFIX}#{_digest(selected)}"


def _digest(value: Any) -> str:
    # The C encoder walks a body nested MAX_DEPTH (512) deep without Python recursion.
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class DynamoDbIdempotency:
    stores = True

    def __init__(
        self,
        table_name: str,
        expires_after_seconds: int,
        region: str | None = None,
        window: CallWindow | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table_name
        self._expires_after = expires_after_seconds
        self._clients = AwsClients("dynamodb", region, window)
        self._window = window
        self._wall_clock = wall_clock
        self._context: Any = None

    def prepare(self, seconds: float | None = None) -> None:
        """Build the DynamoDB client a delivery of `seconds` starts with, calling nothing."""
        self._clients.prepare(seconds)

    def register(self, lambda_context: Any) -> None:
        """Claims taken from now lapse when this invocation's time is up."""
        self._context = lambda_context

    def claim(self, key: dict[str, Any]) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        now = self._wall_clock()
        validation = _digest(key.get("payload"))
        item: dict[str, Any] = {
            "id": {"S": record_id(key)},
            "status": {"S": INPROGRESS},
            "expiration": {"N": str(int(now) + self._expires_after)},
            "validation": {"S": validation},
        }
        lapse = self._lapse_ms(now)
        if lapse is not None:
            item["in_progress_expiration"] = {"N": str(lapse)}
        try:
            self._dynamodb().put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=_CLAIMABLE,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":now_ms": {"N": str(int(now * 1000))},
                    ":inprogress": {"S": INPROGRESS},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise _unavailable(exc, "claim") from None
            found = cast("dict[str, Any]", exc.response).get("Item")
            return _earlier(found, validation)
        except (BotoCoreError, OutOfTime) as exc:
            raise _unavailable(exc, "claim") from None
        return None

    def take(self, key: dict[str, Any], found: dict[str, Any]) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        now = self._wall_clock()
        lapse = self._lapse_ms(now)
        setting = "SET #status = :inprogress"
        values: dict[str, Any] = {
            ":inprogress": {"S": INPROGRESS},
            ":completed": {"S": COMPLETED},
            ":found": {"S": json.dumps(found, sort_keys=True)},
        }
        if lapse is not None:
            setting += ", #lapse = :lapse"
            values[":lapse"] = {"N": str(lapse)}
        try:
            self._dynamodb().update_item(
                TableName=self._table,
                Key={"id": {"S": record_id(key)}},
                UpdateExpression=setting,
                # the outcome this run read, still there: nobody took or changed it meanwhile
                ConditionExpression="#status = :completed AND #data = :found",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#data": "data",
                    "#lapse": "in_progress_expiration",
                }
                if lapse is not None
                else {"#status": "status", "#data": "data"},
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise _unavailable(exc, "take") from None
            found_now = cast("dict[str, Any]", exc.response).get("Item")
            if not found_now:  # gone (expired, released): what a claim finds now
                return self.claim(key)
            return _earlier(found_now, _digest(key.get("payload")))
        except (BotoCoreError, OutOfTime) as exc:
            raise _unavailable(exc, "take") from None
        return None

    def complete(self, key: dict[str, Any], outcome: dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        now = self._wall_clock()
        try:
            self._dynamodb().update_item(
                TableName=self._table,
                Key={"id": {"S": record_id(key)}},
                UpdateExpression=(
                    "SET #status = :completed, #expiry = :expiry, #data = :data, "
                    "#validation = :validation REMOVE #lapse"
                ),
                ExpressionAttributeNames={
                    "#status": "status",
                    "#expiry": "expiration",
                    "#data": "data",
                    "#validation": "validation",
                    "#lapse": "in_progress_expiration",
                },
                ExpressionAttributeValues={
                    ":completed": {"S": COMPLETED},
                    ":expiry": {"N": str(int(now) + self._expires_after)},
                    ":data": {"S": json.dumps(outcome, sort_keys=True)},
                    ":validation": {"S": _digest(key.get("payload"))},
                },
            )
        except (BotoCoreError, ClientError, OutOfTime) as exc:
            raise _unavailable(exc, "complete") from None

    def release(self, key: dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._dynamodb().delete_item(TableName=self._table, Key={"id": {"S": record_id(key)}})
        except (BotoCoreError, ClientError, OutOfTime) as exc:
            # The claim then lapses with the invocation's time.
            logger.warning("Idempotency claim not released", extra={"error": type(exc).__name__})

    def _lapse_ms(self, now: float) -> int | None:
        """When a claim taken now lapses, so that a retry may take what a run left unfinished:
        a delivery's, once it is answered (the receiver binds the answer's deadline to the
        window, and nothing of a delivery runs past its answer), with a margin; otherwise the
        end of the registered invocation (none without one: the worker's and the replay's runs
        end their claims themselves)."""
        left = None if self._window is None else self._window.remaining()
        if left is not None:
            return int((now + left + LAPSE_MARGIN_SECONDS) * 1000)
        if self._context is None:
            return None
        return int(now * 1000) + int(self._context.get_remaining_time_in_millis())

    def _dynamodb(self) -> DynamoDBClient:
        return cast("DynamoDBClient", self._clients.now())


def _earlier(item: dict[str, Any] | None, validation: str) -> dict[str, Any]:
    """What a claim that found a live record gets: the stored outcome, or the reason it cannot
    have it (another run holds the key; the id came with another payload)."""
    if item is None:  # DynamoDB always returns it with ALL_OLD; without it nothing is known
        raise InProgress
    stored = item.get("validation", {}).get("S")
    if stored is not None and stored != validation:
        raise DeliveryConflict("This delivery id was seen before with a different payload.")
    if item.get("status", {}).get("S") != COMPLETED:
        raise InProgress
    try:
        outcome = json.loads(item.get("data", {}).get("S", "{}"))
    except ValueError:
        outcome = {}
    return outcome if isinstance(outcome, dict) else {}


def _unavailable(exc: Exception, step: str) -> Unavailable:
    logger.error(
        "Idempotency store failed",
        extra={"step": step, "error": type(getattr(exc, "__cause__", None) or exc).__name__},
    )
    return Unavailable("Deduplication is unavailable; retry later.")
