"""AWS as moto in server mode holds it for the local stack and the tests: the server behind its
Host check, the tables, the queues (a work queue with its redrive to the DLQ), and the secrets
the sources need."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from typing import Any, Protocol

from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.config import VerifyToken
from skipcall_bridge_dev import devdata
from skipcall_bridge_dev.dev_keys import dev_secret_value
from skipcall_bridge_dev.http_server import addressed_locally, allowed_names


class ServesAws(Protocol):
    """moto, or the bench's quick SQS: whatever hands out boto3 clients of its endpoint."""

    def client(self, service: str) -> Any: ...


# The only address moto listens on in the local stack (`sam local invoke` joins the host's
# network to reach it: `make invoke`).
MOTO_HOST = "127.0.0.1"


class MotoServer:
    """moto in server mode: boto3 talks real HTTP to it through AWS_ENDPOINT_URL. Like every
    development server it answers only requests addressed by a local name: moto signs anything
    and holds the API key, so a page whose DNS name was rebound to 127.0.0.1 could otherwise
    read the key and put letters on the queues (security review #28, finding 7)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per AWS call
        moto = DomainDispatcherApplication(create_backend_app)
        allowed = allowed_names(host)

        def local_only(environ: dict[str, Any], start_response: Any) -> Any:
            if addressed_locally(environ.get("HTTP_HOST"), allowed):
                return moto(environ, start_response)
            start_response("421 Misdirected Request", [("Content-Type", "text/plain")])
            return [b"This development server answers only local names\n"]

        self._server = make_server(
            host, port, local_only, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.url,
            region_name=devdata.REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto accepts any credentials
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


IDEMPOTENCY_TABLE = "skipcall-bridge-idempotency"


LINKS_TABLE = "skipcall-bridge-links"


def create_table(moto: MotoServer, name: str, ttl_attribute: str | None = None) -> str:
    """A table as template.yaml declares them: partition key `id` (string), optional TTL."""
    dynamodb = moto.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    if ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute},
        )
    return name


def create_idempotency_table(moto: MotoServer, name: str = IDEMPOTENCY_TABLE) -> str:
    return create_table(moto, name, ttl_attribute="expiration")


def seed_aws(moto: MotoServer, catalog: SourceCatalog) -> str:
    """Create the API key, every signing secret the sources file names, the DLQ and the
    idempotency table."""
    moto.client("secretsmanager").create_secret(
        Name=devdata.API_KEY_SECRET_ID, SecretString=f'{{"apiKey": "{devdata.API_KEY}"}}'
    )
    seed_signing_secrets(moto, catalog)
    create_idempotency_table(moto)
    create_table(moto, LINKS_TABLE)
    return create_dead_letter_queue(moto, devdata.DEAD_LETTER_QUEUE)


def seed_signing_secrets(moto: MotoServer, catalog: SourceCatalog) -> None:
    """Every signing secret the sources file names, with its dev value (kept if it exists)."""
    secrets = moto.client("secretsmanager")
    for name in catalog.names:
        source = catalog.get(name)
        assert source is not None
        value = dev_secret_value(source)
        values = {source.secret_id: value} if source.secret_id and value else {}
        handshake = source.config.handshake
        if isinstance(handshake, VerifyToken):  # a verify token is a plain string
            values[handshake.secret_id] = devdata.signing_secret(handshake.secret_id, "bearer")
        for secret_id, value in values.items():
            # Several sources may share one secret; a reload finds the earlier ones.
            with contextlib.suppress(secrets.exceptions.ResourceExistsException):
                secrets.create_secret(Name=secret_id, SecretString=value)


def create_dead_letter_queue(moto: ServesAws, name: str) -> str:
    """The DLQ as template.yaml declares it: 14 days, SSE, messages up to 1 MiB."""
    from skipcall_bridge.common.envelope import MAX_MESSAGE_BYTES

    queue = moto.client("sqs").create_queue(
        QueueName=name,
        Attributes={
            "MessageRetentionPeriod": "1209600",
            "SqsManagedSseEnabled": "true",
            "MaximumMessageSize": str(MAX_MESSAGE_BYTES),
        },
    )
    return str(queue["QueueUrl"])


WORK_MAX_RECEIVE_COUNT = 5  # template.yaml's WorkMaxReceiveCount default


def create_work_queue(
    moto: ServesAws,
    name: str,
    dead_letter_queue_url: str,
    max_receives: int = WORK_MAX_RECEIVE_COUNT,
    visibility_seconds: int = 120,
) -> str:
    """The work queue as template.yaml declares it: SSE, messages up to 1 MiB, and SQS's own
    redrive to the DLQ after `max_receives` (for a worker that crashed or timed out). A message
    whose worker could not set its wait comes back after `visibility_seconds`."""
    from skipcall_bridge.common.envelope import MAX_MESSAGE_BYTES

    sqs = moto.client("sqs")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=name,
        Attributes={
            "SqsManagedSseEnabled": "true",
            "MaximumMessageSize": str(MAX_MESSAGE_BYTES),
            "VisibilityTimeout": str(visibility_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}
            ),
        },
    )
    return str(queue["QueueUrl"])
