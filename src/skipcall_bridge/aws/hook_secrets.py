"""A REST hook's secret (`hook-secret` handshakes), kept in Secrets Manager under the source's
`secretId`, and the window in which an operator allows it: one item in the idempotency table
(IDEMPOTENCY_TABLE), `id` = `arm#<source>`, its `expiration` (the table's TTL attribute) when
the window closes. Taking the window is a conditional DeleteItem on a live item: of two
handshakes at once, one gets it."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from skipcall_bridge.aws.config import AwsClients, condition_failed
from skipcall_bridge.aws.secrets import SecretsManagerStore
from skipcall_bridge.common.errors import Unavailable
from skipcall_bridge.common.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from skipcall_bridge.common.budget import CallWindow

PREFIX = "arm#"


class AwsHookSecrets:
    def __init__(
        self,
        table_name: str,
        secrets: SecretsManagerStore,
        region: str | None = None,
        window: CallWindow | None = None,
    ) -> None:
        self._table = table_name
        self._secrets = secrets
        self._clients = AwsClients("dynamodb", region, window)

    def arm(self, source: str, until: float) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        item = {"id": {"S": PREFIX + source}, "expiration": {"N": str(int(until))}}
        try:
            self._dynamodb().put_item(TableName=self._table, Item=item)
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable(exc) from None

    def disarm(self, source: str, now: float) -> float | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._dynamodb().delete_item(
                TableName=self._table,
                Key={"id": {"S": PREFIX + source}},
                ConditionExpression="#expiry >= :now",  # absent or closed: not armed
                ExpressionAttributeNames={"#expiry": "expiration"},
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise _unavailable(exc) from None
        except BotoCoreError as exc:
            raise _unavailable(exc) from None
        return float(answer.get("Attributes", {}).get("expiration", {}).get("N", now))

    def keep(self, secret_id: str, secret: str) -> None:
        self._secrets.replace(secret_id, secret)

    def _dynamodb(self) -> DynamoDBClient:
        return cast("DynamoDBClient", self._clients.now())


def _unavailable(exc: Exception) -> Unavailable:
    logger.error("Hook secret window unreachable", extra={"error": type(exc).__name__})
    return Unavailable("The hook secret window cannot be read right now; retry later.")
