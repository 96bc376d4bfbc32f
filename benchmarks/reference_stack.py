"""The naive stack the targets compare against: what a typical Powertools webhook handler
loads at import (Logger, Tracer, Metrics, the HTTP resolver, parameters, idempotency, a boto3
SQS client, urllib3, pydantic), and, with --deliver, one delivery the usual way (Powertools
get_secret, then one urllib3 POST).

`plain_handler` is that receiver whole, for the warm comparison: the resolver and the same
decorators, a bearer check, the payload validated, one POST, one log line, one metric.
`floor_handler` is the Powertools floor: the same decorators and resolver, one log line and one
metric, nothing else."""

from __future__ import annotations

import json
import os
import sys

import boto3
from aws_lambda_powertools import Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from reference_lean import CreateSequence, app, http, logger, metrics, post

# What the naive stack builds besides the lean one's: a Tracer, an SQS client, idempotency.
tracer = Tracer(service="reference")
sqs = boto3.client("sqs")
persistence = DynamoDBPersistenceLayer(table_name=os.environ.get("BENCH_REFERENCE_TABLE", "t"))
config = IdempotencyConfig(event_key_jmespath="id")


@idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=config)
def handle_once(event: dict[str, str]) -> dict[str, int]:
    return {"status": post()}


def deliver(dedup: bool = False) -> int:
    """get_secret and one POST; with `dedup`, the POST inside Powertools idempotency."""
    if dedup:
        return int(handle_once(event={"id": os.environ["BENCH_DELIVERY_ID"]})["status"])
    return post()


@app.post("/webhooks/<source>")
def receive(source: str) -> dict[str, object]:
    event = app.current_event
    if event.headers.get("authorization") != f"Bearer {os.environ['BENCH_TOKEN']}":
        return {"statusCode": 401}
    dto = CreateSequence.model_validate_json(event.body or "{}")
    key = parameters.get_secret(os.environ["SKIPCALL_API_KEY_SECRET_ID"], max_age=300)
    response = http.request(
        "POST",
        os.environ["SKIPCALL_API_URL"] + "/v1/sequences",
        body=dto.model_dump_json().encode(),
        headers={
            "Authorization": f"Bearer {json.loads(str(key))['apiKey']}",
            "Content-Type": "application/json",
        },
    )
    logger.info("Delivery processed", extra={"status": response.status})
    metrics.add_metric(name="SequencesCreated", unit="Count", value=1)
    return {"status": "created", "sequence": json.loads(response.data)}


# The same decorators as the receiver's handler (the tracer is off outside Lambda in both).
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False, clear_state=True
)
@metrics.log_metrics(capture_cold_start_metric=True)
def plain_handler(event: dict[str, object], context: object) -> dict[str, object]:
    return app.resolve(event, context)


floor = APIGatewayHttpResolver()


@floor.post("/webhooks/<source>")
def floor_route(source: str) -> dict[str, str]:
    logger.info("Delivery processed", extra={"status": 201})
    metrics.add_metric(name="SequencesCreated", unit="Count", value=1)
    return {"status": "created"}


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False, clear_state=True
)
@metrics.log_metrics(capture_cold_start_metric=True)
def floor_handler(event: dict[str, object], context: object) -> dict[str, object]:
    return floor.resolve(event, context)


if __name__ == "__main__" and "--deliver" in sys.argv:
    print(deliver(dedup="--dedup" in sys.argv))
