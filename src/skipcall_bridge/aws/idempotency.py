"""Deduplication with Powertools idempotency on DynamoDB.

One record per event, keyed by `[source, deliveryId, phase]` (phase: `receive` for senders,
`replay` for the DLQ redrive), with the event payload validated: the same id with another body
is a conflict. The work runs inside the record's lifetime, so what is stored is what happened:
a created sequence, or a dead letter already in SQS. The Lambda context is registered so that
a run cut short by a timeout does not hold its record forever.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skipcall_bridge.aws.config import boto3_session, boto_config
from skipcall_bridge.errors import DeliveryConflict, Unavailable
from skipcall_bridge.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

Work = Callable[[], dict[str, Any]]


class DynamoDbIdempotency:
    stores = True

    def __init__(
        self, table_name: str, expires_after_seconds: int, region: str | None = None
    ) -> None:
        self._table_name = table_name
        self._region = region
        self._expires_after = expires_after_seconds
        self._config: IdempotencyConfig | None = None
        self._guarded: Callable[..., dict[str, Any]] | None = None
        self._replayed = False

    def register(self, lambda_context: Any) -> None:
        if lambda_context is not None:
            self._guarded_work()  # builds the config on first use
            assert self._config is not None
            self._config.register_lambda_context(lambda_context)

    def run(self, key: dict[str, Any], work: Work) -> tuple[dict[str, Any], bool]:
        """Run `work` once per key; later calls get its stored result: (result, replayed)."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )
        from botocore.exceptions import BotoCoreError, ClientError

        self._replayed = False
        try:
            result = self._guarded_work()(key=key, work=work)
        except IdempotencyAlreadyInProgressError:
            raise Unavailable(
                "This delivery is being processed right now; retry shortly.",
                retry_after_seconds=5,
            ) from None
        except IdempotencyValidationError:
            raise DeliveryConflict(
                "This delivery id was seen before with a different payload."
            ) from None
        except (BotoCoreError, ClientError) as exc:
            logger.error("Idempotency table unreachable", extra={"error": type(exc).__name__})
            raise Unavailable("Deduplication is unavailable; retry later.") from None
        except Exception as exc:
            if _is_persistence_error(exc):
                logger.error("Idempotency store failed", extra={"error": type(exc).__name__})
                raise Unavailable("Deduplication is unavailable; retry later.") from None
            raise
        return result, self._replayed

    def _guarded_work(self) -> Callable[..., dict[str, Any]]:
        if self._guarded is None:
            from aws_lambda_powertools.utilities.idempotency import (
                DynamoDBPersistenceLayer,
                IdempotencyConfig,
                idempotent_function,
            )

            self._config = IdempotencyConfig(
                event_key_jmespath="[source, deliveryId, phase]",
                payload_validation_jmespath="payload",
                raise_on_no_idempotency_key=True,
                expires_after_seconds=self._expires_after,
                hash_function="sha256",
                response_hook=self._mark_replayed,
            )
            store = DynamoDBPersistenceLayer(
                table_name=self._table_name,
                boto_config=boto_config(self._region),
                boto3_session=boto3_session(),
            )
            self._guarded = idempotent_function(
                _run_work,
                data_keyword_argument="key",
                persistence_store=store,
                config=self._config,
                key_prefix="skipcall-bridge",
            )
        return self._guarded

    def _mark_replayed(self, response: Any, idempotent_data: DataRecord) -> Any:
        self._replayed = True
        return response


def _run_work(*, key: dict[str, Any], work: Work) -> dict[str, Any]:
    return work()


def _is_persistence_error(exc: Exception) -> bool:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyInconsistentStateError,
        IdempotencyPersistenceConnectionError,
        IdempotencyPersistenceLayerError,
    )

    return isinstance(
        exc,
        IdempotencyPersistenceLayerError
        | IdempotencyPersistenceConnectionError
        | IdempotencyInconsistentStateError,
    )
