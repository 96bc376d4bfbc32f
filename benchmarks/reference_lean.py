"""The lean reference: what a Powertools receiver needs for one delivery without deduplication,
and nothing else (issue #21: the naive stack also builds at import a Tracer and an SQS client
that this path never uses, which flattered our cold ratio). Logger, Metrics, the HTTP resolver,
parameters' get_secret, urllib3 and pydantic; `deliver()` reads the key and sends one POST.
`reference_stack.py` is this plus what the naive stack builds besides."""

from __future__ import annotations

import json
import os

import urllib3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel

logger = Logger(service="reference")
metrics = Metrics(service="reference", namespace="Reference")
app = APIGatewayHttpResolver()
http = urllib3.PoolManager()


class CreateSequence(BaseModel):
    name: str
    assignedToIds: list[str]
    creatorId: str


def post() -> int:
    key = parameters.get_secret(os.environ["SKIPCALL_API_KEY_SECRET_ID"])
    member = os.environ["BENCH_CREATOR_ID"]
    body = CreateSequence(name="bench", assignedToIds=[member], creatorId=member).model_dump_json()
    response = http.request(
        "POST",
        os.environ["SKIPCALL_API_URL"] + "/v1/sequences",
        body=body.encode(),
        headers={
            "Authorization": f"Bearer {json.loads(str(key))['apiKey']}",
            "Content-Type": "application/json",
        },
    )
    return response.status


def deliver() -> int:
    return post()
