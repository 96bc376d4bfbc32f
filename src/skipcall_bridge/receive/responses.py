"""The one place where domain outcomes and errors become HTTP statuses and JSON bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response, content_types

from skipcall_bridge.common.errors import (
    BridgeError,
    DeliveryConflict,
    InvalidJson,
    MappingFailed,
    Unavailable,
)

if TYPE_CHECKING:  # the domain's models load with the runtime, not on cold start
    from skipcall_bridge.common.outcomes import DeliveryReport, EventOutcome
    from skipcall_bridge.receive.handshakes import HandshakeAnswer

# A delivery whose every event was done (DeliveryReport.status), answered 201.
SUCCESSES = frozenset({"created", "enrolled", "unenrolled", "done"})

STATUS_BY_CODE: dict[str, int] = {
    "INVALID_JSON": 400,
    "INVALID_XML": 400,
    "INVALID_FORM": 400,
    "INVALID_SIGNATURE": 401,
    "UNKNOWN_SOURCE": 404,
    "NOT_FOUND": 404,
    "PAYLOAD_TOO_LARGE": 413,
    "DELIVERY_CONFLICT": 409,
    "MAPPING_FAILED": 422,
    "UNAVAILABLE": 503,
}
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
SALESFORCE_ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<Ack>true</Ack>"
    "</notificationsResponse>"
    "</soapenv:Body>"
    "</soapenv:Envelope>"
)

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
    headers = (
        {"Retry-After": str(error.retry_after_seconds)} if isinstance(error, Unavailable) else None
    )
    return json_response(status, {"error": payload}, headers)


def handshake_response(answer: HandshakeAnswer) -> Response[Any]:
    """The challenge back, as the sender expects it."""
    if answer.kind == "text":
        # nosniff: a browser never reads the reflected value as anything but text
        return Response(
            status_code=200,
            content_type="text/plain",
            body=answer.value,
            headers={"X-Content-Type-Options": "nosniff"},
        )
    if answer.kind == "header":
        return json_response(200, {}, {answer.header or answer.field: answer.value})
    return json_response(200, {answer.field: answer.value})


def delivery_response(report: DeliveryReport) -> Response[Any]:  # noqa: PLR0911
    """The delivery's answer, derived from every event's outcome."""
    status = report.status
    if status == "unavailable":  # some event is neither done nor stored: the sender retries
        return error_response(
            Unavailable(
                "Some events could not be handled or stored; retry (the finished ones will "
                "not be done again).",
                retry_after_seconds=report.retry_after_seconds,
            )
        )
    if report.body_format == "xml":
        # Salesforce resends until it reads Ack true. Every event is now created, stored in
        # the DLQ or known already, so a NACK would only make it send the same notifications.
        return Response(status_code=200, content_type=SOAP_CONTENT_TYPE, body=SALESFORCE_ACK)
    if status == "ignored":  # nothing selected, or every action rendered nothing
        return json_response(
            200, {"status": "ignored", "events": [_outcome(e) for e in report.events]}
        )
    if status == "conflict":
        return error_response(
            DeliveryConflict(
                "These delivery ids were seen before with a different payload; nothing was done.",
                details=[{"deliveryId": event.delivery_id} for event in report.events],
            )
        )
    if status == "unmapped" and report.unmapped_status == 422:
        if all(event.status == "invalid-body" for event in report.events):
            return error_response(InvalidJson("The body is not valid JSON."))
        repeat = all(event.duplicate for event in report.events)
        return error_response(
            MappingFailed(
                # A repeat is mapped again with the sources file as it is now (receive/repeats.py)
                "These events were seen before; evaluated again with the sources file as it "
                "is now, they still do not map. Their first letters wait in the DLQ (no new "
                "one is written); details name each field."
                if repeat
                else "No event of the payload maps: nothing was done (the events are in the "
                "DLQ; details name each field).",
                details=report.mapping_errors,
            )
        )
    body: dict[str, Any] = {
        "status": "dead-lettered" if status == "unmapped" else status,
        "sequences": report.sequences,
    }
    if report.deferred:
        body["deferred"] = [event.delivery_id for event in report.deferred]
    if report.dead_lettered:
        body["deadLettered"] = [
            {"deliveryId": event.delivery_id, "reason": event.reason}
            for event in report.dead_lettered
        ]
    body["events"] = [_outcome(outcome) for outcome in report.events]
    return json_response(201 if status in SUCCESSES else 202, body)


def _outcome(outcome: EventOutcome) -> dict[str, Any]:
    answer: dict[str, Any] = {"deliveryId": outcome.delivery_id}
    if outcome.action is not None:
        answer["action"] = outcome.action
    if outcome.status in ("created", "enrolled", "unenrolled"):
        answer |= {"status": outcome.status, "sequenceId": outcome.sequence_id}
        if outcome.status != "created":
            answer["contactIds"] = outcome.contact_ids
        if outcome.created:
            answer["created"] = True
        if outcome.skipped_contacts:
            answer["skippedContacts"] = outcome.skipped_contacts
    elif outcome.status in ("conflict", "ignored"):
        answer["status"] = outcome.status
    elif outcome.status == "deferred":  # in the work queue; `reason`: why it did not fit now
        answer |= {"status": "deferred", "reason": outcome.reason}
    else:
        status = "unmapped" if outcome.reason == "MAPPING_FAILED" else "dead-lettered"
        answer |= {"status": status, "reason": outcome.reason}
    if outcome.duplicate:
        answer["duplicate"] = True
    return answer
