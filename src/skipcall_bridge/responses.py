"""The one place where domain outcomes and errors become HTTP statuses and JSON bodies."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from skipcall_bridge.errors import BridgeError
from skipcall_bridge.pipeline import DeliveryReport

STATUS_BY_CODE: dict[str, int] = {
    "INVALID_JSON": 400,
    "INVALID_SIGNATURE": 401,
    "UNKNOWN_SOURCE": 404,
    "NOT_FOUND": 404,
    "PAYLOAD_TOO_LARGE": 413,
    "MAPPING_FAILED": 422,
    "UNAVAILABLE": 503,
}
RETRY_AFTER_SECONDS = "30"

JsonResponse = Response[dict[str, Any]]


def json_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JsonResponse:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers=headers,
    )


def error_response(error: BridgeError) -> JsonResponse:
    status = STATUS_BY_CODE[error.code]
    payload: dict[str, Any] = {"code": error.code, "message": error.message, "status": status}
    if error.details:
        payload["details"] = error.details
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
    return json_response(status, {"error": payload}, headers)


def delivery_response(report: DeliveryReport) -> JsonResponse:
    body: dict[str, Any] = {"status": report.status, "sequences": report.sequences}
    if report.dead_lettered:
        body["deadLettered"] = [
            {"deliveryId": ref.delivery_id, "reason": ref.reason.value}
            for ref in report.dead_lettered
        ]
    return json_response(201 if report.status == "created" else 202, body)
