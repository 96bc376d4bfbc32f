"""`make dev`'s console: one readable line per delivery instead of JSON logs and EMF blobs.

`14:02:11  zapier            201  created 3f1c9a2e                      12 ms`
`14:02:15  pipedrive-enrol   201  enrolled 1 into 7a0c41d2              9 ms`
Coloured on a terminal (green done, yellow kept in the DLQ, red refused or failed). What Lambda
logs does not change: this is the local gateway's view of each answer.
"""

from __future__ import annotations

import json
import time
from typing import Any

GREEN, YELLOW, RED, RESET = "\033[32m", "\033[33m", "\033[31m", "\033[0m"
SHOWN_EVENTS = 4


def delivery_line(path: str, result: dict[str, Any], seconds: float, colour: bool) -> str:
    status = int(result.get("statusCode", 0))
    route = path.split("?", maxsplit=1)[0].rstrip("/")
    source = route.rsplit("/", 1)[-1] if "/webhooks/" in route else route
    summary = _summary(status, result.get("body") or "")
    line = (
        f"{time.strftime('%H:%M:%S')}  {source:<16}  {status}  {summary:<40}  "
        f"{seconds * 1000:.0f} ms"
    )
    if not colour:
        return line
    tint = GREEN if status in (200, 201) else YELLOW if status == 202 else RED
    return f"{tint}{line}{RESET}"


def _summary(status: int, raw: str) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return "Ack" if "<Ack>true</Ack>" in raw else ""
    if not isinstance(body, dict):
        return ""
    if "error" in body and isinstance(body["error"], dict):
        return str(body["error"].get("code", ""))
    events = body.get("events")
    if not isinstance(events, list):
        return str(body.get("status", ""))
    parts = [_event(event) for event in events[:SHOWN_EVENTS] if isinstance(event, dict)]
    if len(events) > SHOWN_EVENTS:
        parts.append(f"+{len(events) - SHOWN_EVENTS} more")
    return ", ".join(parts) or str(body.get("status", ""))


def _event(event: dict[str, Any]) -> str:
    state = str(event.get("status", "?"))
    if state == "created":
        detail = str(event.get("sequenceId") or "")[:8]
    elif state in ("enrolled", "unenrolled"):
        where = "into" if state == "enrolled" else "from"
        contacts = event.get("contactIds") or []
        sequence = str(event.get("sequenceId") or "a sequence never created")[:8]
        detail = f"{len(contacts)} {where} {sequence}"
    else:
        detail = str(event.get("reason") or "")
    repeat = " (repeat)" if event.get("duplicate") else ""
    return f"{state} {detail}".strip() + repeat
