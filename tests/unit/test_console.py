"""`make dev`'s one line per delivery, for each kind of answer."""

from __future__ import annotations

import json

from skipcall_bridge_dev.console import delivery_line


def line(status: int, body: object) -> str:
    result = {"statusCode": status, "body": json.dumps(body)}
    return delivery_line("/webhooks/crm", result, 0.012, colour=False)


def test_created_enrolled_unenrolled_and_kept() -> None:
    events = [
        {"status": "created", "sequenceId": "3f1c9a2e-0000"},
        {"status": "enrolled", "sequenceId": "7a0c41d2-0000", "contactIds": ["a", "b"]},
        {"status": "unenrolled", "sequenceId": None, "contactIds": []},
        {"status": "dead-lettered", "reason": "RATE_LIMITED", "duplicate": True},
        {"status": "ignored"},
    ]
    text = line(202, {"status": "partial", "events": events})
    assert "crm" in text
    assert "created 3f1c9a2e" in text
    assert "enrolled 2 into 7a0c41d2" in text
    assert "unenrolled 0 from a sequen" in text
    assert "dead-lettered RATE_LIMITED (repeat)" in text
    assert "+1 more" in text
    assert text.endswith("12 ms")


def test_errors_show_their_code() -> None:
    assert "INVALID_SIGNATURE" in line(401, {"error": {"code": "INVALID_SIGNATURE"}})
