"""The best hand-written receiver for the production configuration, to compare cold starts
with: the lean reference (`reference_lean.py`: Logger, Metrics, the HTTP resolver, get_secret,
urllib3, pydantic), deduplicated with Powertools idempotency on DynamoDB as its docs show, and
traced as the template traces (a Tracer, the delivery captured). Nothing it never uses."""

from __future__ import annotations

import os

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from reference_lean import post

tracer = Tracer(service="reference")
persistence = DynamoDBPersistenceLayer(table_name=os.environ["BENCH_REFERENCE_TABLE"])
config = IdempotencyConfig(event_key_jmespath="id")


@idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=config)
def handle_once(event: dict[str, str]) -> dict[str, int]:
    return {"status": post()}


@tracer.capture_method(capture_response=False)
def deliver() -> int:
    return int(handle_once(event={"id": os.environ["BENCH_DELIVERY_ID"]})["status"])
