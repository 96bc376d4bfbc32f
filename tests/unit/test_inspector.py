"""The inspector's page and buttons, without a browser (the e2e test drives a real one)."""

from __future__ import annotations

import json
from typing import Any

from skipcall_bridge_dev.inspector import Exchange, Inspector, Replayed, redact_url

EVENT = {"deliveryId": "ev-1", "status": "dead-lettered", "reason": "SKIPCALL_UNAVAILABLE"}
ANSWER = {"status": "dead-lettered", "events": [EVENT]}


def exchange(path: str = "/webhooks/zapier") -> Exchange:
    headers = [("Authorization", "Bearer s3cret-token"), ("X-Signature", "abc"),
               ("Content-Type", "application/json"), ("X-Auth", "k3y-0123456789abcdef"),
               ("X-Custom", "Bearer another-one"), ("X-Request-Time", "1795660800")]  # fmt: skip
    result = {"statusCode": 202, "body": json.dumps(ANSWER)}
    return Exchange("POST", path, headers, b'{"name": "n"}', result, 0.012)


def test_the_page_redacts_and_offers_send_again_and_replay() -> None:
    sent: list[Exchange] = []
    replayed: list[tuple[str, str]] = []

    def replay(source: str, delivery_id: str, anyway: bool) -> Replayed:
        replayed.append((source, delivery_id))
        return Replayed("replayed 1", done=delivery_id == "ev-1")

    def preview(_: Exchange) -> dict[str, Any]:
        return {"ev-1": {"dto": {"name": "n"}}}

    inspector = Inspector(resend=sent.append, replay=replay, preview=preview)
    inspector.observe(exchange("/webhooks/salesforce?token=tok-1234&x=1"))
    inspector.observe(exchange())
    inspector.observe(exchange("/_inspect"))  # its own pages are not deliveries
    status, content_type, page = inspector.handle("GET", "/_inspect")
    assert (status, content_type.split(";")[0]) == (200, "text/html")
    assert page.count('class="delivery"') == 2
    assert page.index("zapier") < page.index("salesforce")  # newest first
    # by name, and by value (#22 finding 17: a custom X-Auth showed its secret)
    for secret in ("s3cret-token", "tok-1234", ">abc<", "X-Signature: abc",
                   "k3y-0123456789abcdef", "another-one"):  # fmt: skip
        assert secret not in page
    assert "Authorization: [redacted]" in page
    assert "X-Auth: [redacted]" in page
    assert "X-Request-Time: 1795660800" in page  # what is not a credential stays readable
    assert "Content-Type: application/json" in page
    token = {"X-Inspector-Token": inspector.token}
    assert inspector.token in page  # handed to the page's own script
    assert "&quot;name&quot;: &quot;n&quot;" in page  # the event's DTO
    # Another origin's page posting to 127.0.0.1 has no token: nothing is done.
    assert inspector.handle("POST", "/_inspect/resend/2")[0] == 403
    assert inspector.handle("POST", "/_inspect/resend/2", {"X-Inspector-Token": "guess"})[0] == 403
    assert sent == []
    assert inspector.handle("POST", "/_inspect/resend/2", token)[0] == 200
    assert sent == [exchange()]
    assert inspector.handle("POST", "/_inspect/replay/zapier/ev-1", token) == (
        200, "text/plain", "replayed 1")  # fmt: skip
    # the page's script URL-encodes ids (sha256:…): the server decodes them (#23 item 3)
    inspector.handle("POST", "/_inspect/replay/zapier/sha256%3Aab12", token)
    assert replayed == [("zapier", "ev-1"), ("zapier", "sha256:ab12")]
    assert inspector.handle("POST", "/_inspect/resend/99", token)[0] == 404
    # once its letter left the DLQ, the event says so instead of offering Replay again
    page = inspector.handle("GET", "/_inspect")[2]
    assert 'data-delivery="ev-1">Replay' not in page.split("salesforce")[0]
    assert "replayed at " in page


def test_query_secrets_are_redacted() -> None:
    assert redact_url("/webhooks/sf?token=t&code=c&x=1") == (
        "/webhooks/sf?token=%5Bredacted%5D&code=%5Bredacted%5D&x=1"
    )


def test_a_deferred_event_shows_waiting_then_when_the_worker_finished_it() -> None:
    deferred = {"deliveryId": "lead-7", "status": "deferred", "reason": "BUDGET_EXHAUSTED"}
    result = {"statusCode": 202, "body": json.dumps({"status": "deferred", "events": [deferred]})}
    inspector = Inspector(
        resend=lambda _: None, replay=lambda s, d: Replayed("", False), preview=lambda _: {}
    )
    inspector.observe(Exchange("POST", "/webhooks/leads", [], b"{}", result, 0.01))
    page = inspector.handle("GET", "/_inspect")[2]
    assert "deferred BUDGET_EXHAUSTED: waiting" in page
    assert 'class="replay"' not in page  # nothing to replay: the worker has it
    inspector.finished("other-source", "lead-7")  # another source's event of the same id
    assert "waiting" in inspector.handle("GET", "/_inspect")[2]
    inspector.finished("leads", "lead-7")
    page = inspector.handle("GET", "/_inspect")[2]
    assert "deferred BUDGET_EXHAUSTED: finished by the worker at " in page


def test_a_422_delivery_lists_each_event_with_its_field_errors() -> None:
    """#23 item 3: the error answer has no `events`; the page still shows one row per event,
    unmapped with its fields, and offers Replay."""
    error = {"error": {"code": "MAPPING_FAILED", "status": 422, "message": "…", "details": [
        {"event": 0, "field": "sequence.creatorId", "message": "missing"},
        {"event": 1, "field": "sequence.name", "message": "empty"}]}}  # fmt: skip
    result = {"statusCode": 422, "body": json.dumps(error)}
    inspector = Inspector(
        resend=lambda _: None,
        replay=lambda s, d: Replayed("", False),
        preview=lambda _: {"lead-1": {"errors": ["x"]}, "lead-2": {"errors": ["y"]}},
    )
    inspector.observe(Exchange("POST", "/webhooks/leads", [], b"{}", result, 0.01))
    page = inspector.handle("GET", "/_inspect")[2]
    assert "unmapped sequence.creatorId: missing" in page
    assert "unmapped sequence.name: empty" in page
    assert page.count('class="replay"') == 2


def test_a_salesforce_session_and_a_source_s_own_query_key_are_redacted() -> None:
    """Security review #28, finding 7: the inspector showed a Salesforce Outbound Message's
    SessionId (a live API session), and a query-key parameter named other than token/code/key."""
    body = (b'<soapenv:Envelope><soapenv:Body><notifications><sf:SessionId>00Dxx!AQ4AQ.live'
            b'</sf:SessionId><OrganizationId>00D</OrganizationId></notifications>'
            b"</soapenv:Body></soapenv:Envelope>")  # fmt: skip
    result = {"statusCode": 200, "body": "{}"}
    inspector = Inspector(
        resend=lambda exchange: None,
        replay=lambda source, delivery: Replayed("", done=False),
        preview=lambda exchange: {},
        secret_parameters=lambda: frozenset({"auth"}),
    )
    inspector.observe(Exchange("POST", "/webhooks/sf?auth=pw-42&x=1", [], body, result, 0.01))
    page = inspector.handle("GET", "/_inspect")[2]
    assert "00Dxx!AQ4AQ.live" not in page
    assert "SessionId&gt;[redacted]&lt;/sf:SessionId" in page
    assert "OrganizationId&gt;00D&lt;" in page  # the rest stays readable
    assert "pw-42" not in page
    assert "x=1" in page


def test_a_refused_delivery_says_why_it_was_refused() -> None:
    """#30 item 5: "signature refused" alone never said whether the header was missing, the
    timestamp stale or the signature another key's; the receiver's logged reason is shown."""
    inspector = Inspector(resend=lambda _: None, replay=lambda *_: Replayed("", False),
                          preview=lambda _: {})  # fmt: skip
    refused = {"statusCode": 401, "body": json.dumps({"error": {"code": "INVALID_SIGNATURE"}})}
    why = "the X-Zendesk-Webhook-Signature-Timestamp header is 900 s old: 300 s are allowed"
    inspector.observe(Exchange("POST", "/webhooks/zendesk", [], b"{}", refused, 0.001, why))
    page = inspector.handle("GET", "/_inspect")[2]
    assert f"signature refused: {why}" in page


def test_a_replay_s_report_is_a_console_line_and_marks_its_events() -> None:
    """#30 item 11: replays ran unseen by the console and the inspector."""
    said: list[str] = []
    inspector = Inspector(resend=lambda _: None, replay=lambda *_: Replayed("", False),
                          preview=lambda _: {"ev-1": {}}, say=said.append)  # fmt: skip
    inspector.observe(exchange())
    report = json.dumps({"letters": [["zapier", "ev-1", "replayed"],
                                     ["zapier", "ev-2", "would-fail"]]}).encode()  # fmt: skip
    assert inspector.handle("POST", "/_inspect/replays", {}, report)[0] == 403  # no token
    token = {"X-Inspector-Token": inspector.token}
    assert inspector.handle("POST", "/_inspect/replays", token, b"[1]")[0] == 400
    assert inspector.handle("POST", "/_inspect/replays", token, report)[0] == 200
    assert said == ["replay: 1 replayed, 1 would-fail (ev-1)"]
    assert "replayed at" in inspector.page()


def test_a_letter_held_back_says_why_and_is_replayed_anyway_only_when_asked() -> None:
    """#30 item 13: the Replay button on a letter that is not retryable answered
    "not-retryable" and stopped."""
    asked: list[bool] = []

    def replay(source: str, delivery_id: str, anyway: bool) -> Replayed:
        asked.append(anyway)
        if anyway:
            return Replayed("replayed 1", done=True)
        return Replayed("not-retryable 1", done=False,
                        held_back="Skipcall may have created it already", anyway=True)  # fmt: skip

    inspector = Inspector(resend=lambda _: None, replay=replay, preview=lambda _: {})
    token = {"X-Inspector-Token": inspector.token}
    status, content_type, body = inspector.handle("POST", "/_inspect/replay/zapier/ev-1", token)
    assert (status, content_type) == (409, "application/json")
    assert json.loads(body) == {"why": "Skipcall may have created it already", "anyway": True}
    assert inspector.handle("POST", "/_inspect/replay/zapier/ev-1?anyway=1", token)[:2] == (
        200, "text/plain")  # fmt: skip
    assert asked == [False, True]
    page = inspector.page()
    assert 'confirm(held.why + "\\n\\nReplay it anyway?")' in page  # asked before sending
