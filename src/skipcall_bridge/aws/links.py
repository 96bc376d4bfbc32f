"""The link table (LINKS_TABLE) on DynamoDB, one item per link, partition key `id`:

- `source#CRM record id` -> `contactId`: a CRM contact becomes one Skipcall contact however many
  deliveries name it;
- `sequence:<name>` -> `sequenceId`: a sequence named by a source's `target` is created once.
  Before it exists the item is the creating run's claim (`state`, `claimedBy`, `claimedAt`),
  written with a condition so that only one run, in any container, creates it.

Source names cannot hold ":", so the two kinds of keys never meet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from skipcall_bridge.aws.config import AwsClients, condition_failed
from skipcall_bridge.common.errors import Unavailable
from skipcall_bridge.common.observability import logger
from skipcall_bridge.common.ports import SCOPE_SEPARATOR, NameLink, shared_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from skipcall_bridge.common.budget import CallWindow

NAME_PREFIX = "sequence:"


def name_key(name: str) -> dict[str, Any]:
    return {"id": {"S": NAME_PREFIX + name}}


class DynamoDbLinks:
    def __init__(
        self, table_name: str, region: str | None = None, window: CallWindow | None = None
    ) -> None:
        self._table = table_name
        self._clients = AwsClients("dynamodb", region, window)

    def prepare(self, seconds: float | None = None) -> None:
        """Build the DynamoDB client a delivery of `seconds` starts with, calling nothing
        (SnapStart's snapshot)."""
        self._clients.prepare(seconds)

    # -- contacts --------------------------------------------------------------------------

    def get(self, link_id: str) -> str | None:
        item = self._call("get_item", Key={"id": {"S": link_id}}, ConsistentRead=True).get("Item")
        contact = item.get("contactId", {}).get("S") if item else None
        return contact if isinstance(contact, str) else None

    def put(self, link_id: str, contact_id: str) -> None:
        self._call("put_item", Item={"id": {"S": link_id}, "contactId": {"S": contact_id}})

    # -- sequence names --------------------------------------------------------------------

    def lookup(self, name: str) -> NameLink | None:
        item = self._call("get_item", Key=name_key(name), ConsistentRead=True).get("Item")
        if not item:
            return None
        sequence_id = item.get("sequenceId", {}).get("S")
        claimed_at = item.get("claimedAt", {}).get("N")
        state = item.get("state", {}).get("S")
        return NameLink(
            state="linked" if sequence_id else "creating" if state == "creating" else "unknown",
            sequence_id=sequence_id,
            claimed_by=item.get("claimedBy", {}).get("S"),
            claimed_at=float(claimed_at) if claimed_at else None,
            shared="shared" in item,
        )

    def claim(self, name: str, token: str, now: float) -> bool:
        item = {
            **name_key(name),
            **_shared(name),
            "state": {"S": "creating"},
            "claimedBy": {"S": token},
            "claimedAt": {"N": f"{now:.3f}"},
        }
        try:
            self._call("put_item", Item=item, ConditionExpression="attribute_not_exists(id)")
        except _ConditionFailed:
            return False
        return True

    def link(self, name: str, sequence_id: str) -> None:
        self._call("put_item", Item=_linked(name, sequence_id))

    def settle(self, name: str, sequence_id: str) -> bool:
        try:
            self._call(
                "put_item",
                Item=_linked(name, sequence_id),
                ConditionExpression="attribute_not_exists(sequenceId)",
            )
        except _ConditionFailed:
            return False
        return True

    def adopt(self, name: str, sequence_id: str) -> bool:
        """A scoped name takes the sequence its name had before names were scoped, only while
        nothing is written under it: two runs adopting, or one adopting while another claims,
        never overwrite each other (security review #28, finding 12)."""
        try:
            self._call(
                "put_item",
                Item=_linked(name, sequence_id),
                ConditionExpression="attribute_not_exists(id)",
            )
        except _ConditionFailed:
            return False
        return True

    def mark_unknown(self, name: str, token: str) -> None:
        self._owned("put_item", name, token, Item={
            **name_key(name), "state": {"S": "unknown"}, "claimedBy": {"S": token},
        })  # fmt: skip

    def release(self, name: str, token: str) -> None:
        self._owned("delete_item", name, token, Key=name_key(name))

    def forget(self, name: str) -> bool:
        answer = self._call("delete_item", Key=name_key(name), ReturnValues="ALL_OLD")
        return bool(answer.get("Attributes"))

    def keys_named(self, name: str) -> list[str]:
        """Every key that holds `name`, in any source's scope or shared (an operator's search:
        a scan, read page by page)."""
        found: list[str] = []
        pages: dict[str, Any] = {}
        while True:
            answer = self._call(
                "scan",
                ProjectionExpression="id",
                FilterExpression="begins_with(id, :prefix) AND contains(id, :name)",
                ExpressionAttributeValues={":prefix": {"S": NAME_PREFIX}, ":name": {"S": name}},
                ConsistentRead=True,
                **pages,
            )
            for item in answer.get("Items", []):
                key = item["id"]["S"].removeprefix(NAME_PREFIX)
                # the first `::` ends the scope, and a name never holds one
                if key == name or key.partition(SCOPE_SEPARATOR)[2] == name:
                    found.append(key)
            if "LastEvaluatedKey" not in answer:
                return sorted(found)
            pages = {"ExclusiveStartKey": answer["LastEvaluatedKey"]}

    # -- calls -----------------------------------------------------------------------------

    def _owned(self, operation: str, name: str, token: str, **kwargs: Any) -> None:
        """Change the name's record only while it is still this run's claim."""
        try:
            self._call(
                operation,
                ConditionExpression="claimedBy = :token AND #state = :creating",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":token": {"S": token}, ":creating": {"S": "creating"}},
                **kwargs,
            )
        except _ConditionFailed:
            logger.warning("Sequence name claim changed meanwhile", extra={"sequenceName": name})

    def _client_or_new(self) -> DynamoDBClient:
        return cast("DynamoDBClient", self._clients.now())

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client_or_new(), operation)(TableName=self._table, **kwargs)
        except ClientError as exc:
            if condition_failed(exc):
                raise _ConditionFailed from None
            raise self._unavailable(exc) from None
        except BotoCoreError as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: Exception) -> Unavailable:
        logger.error("Link table unreachable", extra={"error": type(exc).__name__})
        return Unavailable("The link table cannot be reached; retry later.")


def _shared(name: str) -> dict[str, Any]:
    """The mark of a shared name written by a version that scopes names (a link from before
    has none, and only such a link is adopted by a source)."""
    return {"shared": {"BOOL": True}} if shared_key(name) else {}


def _linked(name: str, sequence_id: str) -> dict[str, Any]:
    return {
        **name_key(name),
        **_shared(name),
        "state": {"S": "linked"},
        "sequenceId": {"S": sequence_id},
    }


class _ConditionFailed(Exception):
    """A conditional write found the item changed."""
