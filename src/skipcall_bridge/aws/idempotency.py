"""Deduplication with Powertools idempotency on DynamoDB.

One record per event, keyed by `[source, deliveryId, phase]` (phase: `receive` for senders,
`replay` for the DLQ redrive), with the event's fingerprint validated: the same id with another
payload is a conflict. Powertools' own handler decides what an existing record means (done,
in progress, expired); only its "run the function" step is split in two, claim and complete, so
that the last events of a batch can share SendMessageBatch calls while each keeps its record.
A record is completed only once its work is done: a created sequence, or a letter in SQS. The
Lambda context is registered, so a run cut short by a timeout does not hold its claims.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skipcall_bridge.aws.config import aws_client
from skipcall_bridge.errors import DeliveryConflict, InProgress, Unavailable
from skipcall_bridge.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
    )
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

KEY_PREFIX = "skipcall-bridge"
_CLAIMED = object()  # what the handler returns when this run now holds the key


def _unit(*, key: dict[str, Any]) -> None:
    """The name Powertools gives the records' function (unused with a key prefix)."""


class DynamoDbIdempotency:
    stores = True

    def __init__(
        self, table_name: str, expires_after_seconds: int, region: str | None = None
    ) -> None:
        self._table_name = table_name
        self._region = region
        self._expires_after = expires_after_seconds
        self._parts: tuple[IdempotencyConfig, DynamoDBPersistenceLayer] | None = None

    def prepare(self) -> None:
        """Build the DynamoDB client and the Powertools config, calling nothing."""
        self._config_and_store()

    def register(self, lambda_context: Any) -> None:
        if lambda_context is not None:
            self._config_and_store()[0].register_lambda_context(lambda_context)

    def claim(self, key: dict[str, Any]) -> dict[str, Any] | None:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        try:
            result = self._handler(key).handle()
        except IdempotencyAlreadyInProgressError:
            raise InProgress from None
        except IdempotencyValidationError:
            raise DeliveryConflict(
                "This delivery id was seen before with a different payload."
            ) from None
        except Exception as exc:
            raise _unavailable(exc, "claim") from None
        if result is _CLAIMED:
            return None
        return result if isinstance(result, dict) else {}

    def complete(self, key: dict[str, Any], outcome: dict[str, Any]) -> None:
        try:
            self._config_and_store()[1].save_success(data=key, result=outcome)
        except Exception as exc:
            raise _unavailable(exc, "complete") from None

    def release(self, key: dict[str, Any]) -> None:
        try:
            self._config_and_store()[1].delete_record(data=key, exception=RuntimeError())
        except Exception as exc:  # the claim then lapses with the invocation's time
            logger.warning("Idempotency claim not released", extra={"error": type(exc).__name__})

    def _handler(self, key: dict[str, Any]) -> Any:
        from aws_lambda_powertools.utilities.idempotency.base import IdempotencyHandler

        class ClaimingHandler(IdempotencyHandler):
            """Powertools' handler, stopping where it would run the function."""

            def _get_function_response(self) -> Any:
                return _CLAIMED

        config, store = self._config_and_store()
        return ClaimingHandler(
            function=_unit,
            function_payload=key,
            config=config,
            persistence_store=store,
            key_prefix=KEY_PREFIX,
            function_args=(),
            function_kwargs={"key": key},
        )

    def _config_and_store(self) -> tuple[IdempotencyConfig, DynamoDBPersistenceLayer]:
        if self._parts is None:
            from aws_lambda_powertools.utilities.idempotency import (
                DynamoDBPersistenceLayer,
                IdempotencyConfig,
            )

            config = IdempotencyConfig(
                event_key_jmespath="[source, deliveryId, phase]",
                payload_validation_jmespath="payload",
                raise_on_no_idempotency_key=True,
                expires_after_seconds=self._expires_after,
                hash_function="sha256",
                response_hook=_stored_outcome,
            )
            store = DynamoDBPersistenceLayer(
                table_name=self._table_name,
                boto3_client=aws_client("dynamodb", self._region),
            )
            self._parts = (config, store)
        return self._parts


def _stored_outcome(response: Any, idempotent_data: DataRecord) -> Any:
    return response if isinstance(response, dict) else {}


def _unavailable(exc: Exception, step: str) -> Unavailable:
    logger.error(
        "Idempotency store failed",
        extra={"step": step, "error": type(getattr(exc, "__cause__", None) or exc).__name__},
    )
    return Unavailable("Deduplication is unavailable; retry later.")
