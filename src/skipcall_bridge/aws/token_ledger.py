"""Single-use tokens in the idempotency table (IDEMPOTENCY_TABLE): one item per token,
`id` = `token#<source>#<sha256 of the token>`, the body's digest it first came with, and the
table's TTL attribute (`expiration`) set to the token's own `exp`, after which it verifies no
more. The `token#` prefix keeps these items apart from the idempotency records' keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from skipcall_bridge.aws.config import AwsClients, condition_failed
from skipcall_bridge.common.errors import Unavailable
from skipcall_bridge.common.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from skipcall_bridge.common.budget import CallWindow

PREFIX = "token#"


class DynamoDbTokenLedger:
    def __init__(
        self, table_name: str, region: str | None = None, window: CallWindow | None = None
    ) -> None:
        self._table = table_name
        self._clients = AwsClients("dynamodb", region, window)

    def bind(self, key: str, body_digest: str, expires_at: int) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        item: dict[str, Any] = {
            "id": {"S": PREFIX + key},
            "body": {"S": body_digest},
            "expiration": {"N": str(expires_at)},
        }
        try:
            self._client_or_new().put_item(
                TableName=self._table,
                Item=item,
                # new, or the same body again (a retry of the request this token came with)
                ConditionExpression="attribute_not_exists(id) OR #body = :body",
                ExpressionAttributeNames={"#body": "body"},
                ExpressionAttributeValues={":body": {"S": body_digest}},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise _unavailable(exc) from None
        except BotoCoreError as exc:
            raise _unavailable(exc) from None
        return True

    def _client_or_new(self) -> DynamoDBClient:
        return cast("DynamoDBClient", self._clients.now())


def _unavailable(exc: Exception) -> Unavailable:
    logger.error("Token ledger unreachable", extra={"error": type(exc).__name__})
    return Unavailable("Single-use tokens cannot be checked right now; retry later.")
