"""The contact link table (CONTACT_LINKS_TABLE): `source#CRM record id` -> Skipcall contact id,
so a CRM contact becomes one Skipcall contact however many deliveries name it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skipcall_bridge.aws.config import boto3_session, boto_config
from skipcall_bridge.errors import Unavailable
from skipcall_bridge.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoDbContactLinks:
    def __init__(self, table_name: str, region: str | None = None) -> None:
        self._table = table_name
        self._region = region
        self._client: DynamoDBClient | None = None

    def get(self, link_id: str) -> str | None:
        item = self._call("get_item", Key={"id": {"S": link_id}}, ConsistentRead=True).get("Item")
        contact = item.get("contactId", {}).get("S") if item else None
        return contact if isinstance(contact, str) else None

    def put(self, link_id: str, contact_id: str) -> None:
        self._call("put_item", Item={"id": {"S": link_id}, "contactId": {"S": contact_id}})

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._client is None:
            self._client = boto3_session().client("dynamodb", config=boto_config(self._region))
        try:
            return getattr(self._client, operation)(TableName=self._table, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            logger.error("Contact link table unreachable", extra={"error": type(exc).__name__})
            raise Unavailable("The contact link table cannot be reached; retry later.") from None
