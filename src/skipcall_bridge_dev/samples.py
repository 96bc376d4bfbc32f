"""Sample deliveries, one per source of sources.example.json, in each sender's real payload
shape, and the signing that makes them real requests. Used by `make events`, the ready command
`make dev` prints, `skipcall-bridge send` and the e2e tests."""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from typing import Any

from skipcall_bridge.sources.catalog import Source, SourceCatalog
from skipcall_bridge.verify.hmac_grammar import SignedGrammar
from skipcall_bridge.verify.signed import timestamp_text
from skipcall_bridge_dev.dev_keys import dev_signing_key
from skipcall_bridge_dev.sample_bodies import SAMPLE_BODIES, form_body

# The second half of the enrolment presets: what takes the contacts out again.
FOLLOW_UP_BODIES: dict[str, Any] = {
    # ActiveCampaign: the contact unsubscribed.
    "activecampaign": form_body([
        ("type", "unsubscribe"), ("date_time", "2026-12-05T09:00:00-06:00"),
        ("initiated_by", "contact"), ("initiated_from", "contact"), ("list", "3"),
        ("contact[id]", "42"), ("contact[email]", "radia@example.com"),
        ("contact[first_name]", "Radia"), ("contact[last_name]", "Perlman"),
    ]),
    # Mailchimp: the member unsubscribed.
    "mailchimp": form_body([
        ("type", "unsubscribe"), ("fired_at", "2026-12-05 08:00:00"),
        ("data[action]", "unsub"), ("data[reason]", "manual"), ("data[id]", "8a25ff1d98"),
        ("data[list_id]", "a6b5da1054"), ("data[email]", "frances@example.com"),
        ("data[merges][FNAME]", "Frances"), ("data[merges][LNAME]", "Allen"),
    ]),
    # Twilio: a call from the same number answered and finished (a Voice status callback).
    "twilio": form_body([
        ("Called", "+14155550100"), ("CallStatus", "completed"), ("Duration", "2"),
        ("CallDuration", "94"), ("Direction", "inbound"), ("From", "+14155550177"),
        ("To", "+14155550100"), ("CallSid", "CA0123456789abcdef0123456789abcd01"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"), ("ApiVersion", "2010-04-01"),
        ("Timestamp", "Sat, 05 Dec 2026 08:05:00 +0000"),
        ("CallbackSource", "call-progress-events"), ("SequenceNumber", "3"),
    ]),
    # monday.com: the item's status set to Won.
    "monday": {
        "event": {
            "app": "monday", "type": "update_column_value",
            "triggerTime": "2026-11-28T16:00:00.000Z", "subscriptionId": 73759691,
            "userId": 4012689, "boardId": 3161280891, "pulseId": 3161281501,
            "pulseName": "Hedy Lamarr", "columnId": "status", "columnType": "color",
            "columnTitle": "Status", "value": {"label": {"index": 1, "text": "Won"}},
            "previousValue": {"label": {"index": 0, "text": "Working on it"}},
            "triggerUuid": "7b9a7d3c2dae5c1f9a4b3e2d1cab9a8f",
        },
    },
    # Calendly: the same invitee cancelled.
    "calendly": {
        "created_at": "2026-11-27T10:00:00.000000Z", "created_by":
            "https://api.calendly.com/users/AAAAAAAAAAAAAAAA", "event": "invitee.canceled",
        "payload": {
            "uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAA0001",
            "email": "mary.jackson@nasa.example", "name": "Mary Jackson", "status": "canceled",
            "cancellation": {"canceled_by": "Mary Jackson", "reason": "Rescheduling"},
        },
    },
    # Pipedrive: the person's deal was won.
    "pipedrive-enrol": {
        "meta": {"action": "change", "entity": "deal", "company_id": "8801",
                 "correlation_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "entity_id": "5501",
                 "id": "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "is_bulk_edit": False,
                 "timestamp": "2026-11-27T15:00:00.000Z", "type": "general", "user_id": "17",
                 "version": "2.0", "webhook_id": "993", "webhook_owner_id": "17",
                 "change_source": "app", "attempt": 1, "host": "acme.pipedrive.com"},
        "data": {"id": 5501, "title": "Curie radium order", "status": "won", "person_id": 312,
                 "owner_id": 17, "value": 12000},
        "previous": {"status": "open"},
    },
    # Close: the lead was won.
    "close-enrol": {
        "subscription_id": "whsub_4fGsXSWBh4kf1pT8Qe3Hta",
        "event": {
            "id": "ev_8Ss2dNeR1hZaIm2Yu3jBg", "date_created": "2026-11-28T11:00:00.000000",
            "action": "updated", "object_type": "lead", "object_id": "lead_Qp3sK8vW",
            "lead_id": "lead_Qp3sK8vW", "organization_id": "orga_8Hs2LqZ",
            "user_id": "user_3KdLq9", "request_id": "req_3Za", "changed_fields": ["status_id"],
            "meta": {"request_method": "PUT", "request_path": "/api/v1/lead/lead_Qp3sK8vW/"},
            "previous_data": {"status_id": "stat_qualified", "status_label": "Qualified"},
            "data": {"id": "lead_Qp3sK8vW", "display_name": "Difference Engines",
                     "name": "Difference Engines", "status_id": "stat_won",
                     "status_label": "Won",
                     "contacts": [
                         {"id": "cont_Ad4L", "name": "Ada Byron",
                          "phones": [{"phone": "(415) 555-0199", "type": "mobile"}]},
                     ]},
        },
    },
    # Zapier, Make or n8n: take them out.
    "automation-enrol": {
        "action": "unenrol", "sequence": "Webinar follow-up",
        "contacts": [{"id": "zap-1", "firstName": "Alan", "lastName": "Turing",
                      "phone": "+44 20 7946 0018"}],
    },
}  # fmt: skip


@dataclass(frozen=True)
class SignedSample:
    source: str
    url: str
    body: bytes
    headers: dict[str, str]


def sample_body(source: str, *, follow_up: bool = False) -> bytes:
    """The source's sample (or, with `follow_up`, the one that takes its contacts out)."""
    body = (FOLLOW_UP_BODIES if follow_up else SAMPLE_BODIES)[source]
    return body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()


def sign_sample(
    catalog: SourceCatalog,
    source: str,
    body: bytes,
    *,
    url: str,
    secret: str | None = None,
    now: float | None = None,
) -> SignedSample:
    """Sign `body` as the sender of `source` would, with the dev secret unless one is given.

    `url` is the receiver's base URL; the sample's URL is `<url>/webhooks/<source>` as the
    sender would call it (with the token, for schemes that carry it in the URL)."""
    configured = catalog.get(source)
    if configured is None:
        raise KeyError(source)
    moment = time.time() if now is None else now
    body = stamped(configured, body, moment)
    key = secret if secret is not None else dev_signing_key(configured)
    verifier = configured.verifier
    target = verifier.signed_url(f"{url.rstrip('/')}/webhooks/{source}", key, body)
    # the URL the receiver checks: the source's publicUrl where one is set, with the query
    public = configured.config.public_url
    signed = f"{public}{_query(target)}" if public else target
    headers = {"Content-Type": content_type(configured.body_format, body)}
    headers |= verifier.sign(body, key, moment, method="POST", url=signed)
    return SignedSample(source, target, body, headers)


def stamped(source: Source, body: bytes, now: float) -> bytes:
    """The body with `now` in the field a sender times it by, where the source's signature
    checks a timestamp inside the body (HighLevel's `timestamp`), as that sender writes it."""
    auth = source.config.auth
    spec = auth.timestamp if isinstance(auth, SignedGrammar) else None
    if spec is None or spec.body_field is None:
        return body
    payload = json.loads(body)
    payload[spec.body_field] = timestamp_text(spec, now)
    return json.dumps(payload, separators=(",", ":")).encode()


def content_type(body_format: str, body: bytes) -> str:
    """The Content-Type a sender sets for `body` (an `auto` source: by what the body is)."""
    if body_format == "auto":
        start = body.lstrip()[:1]
        body_format = "json" if start in (b"{", b"[") else "xml" if start == b"<" else "form"
    return {
        "form": "application/x-www-form-urlencoded",
        "xml": "text/xml; charset=utf-8",
    }.get(body_format, "application/json")


def _query(url: str) -> str:
    query = url.partition("?")[2]
    return f"?{query}" if query else ""


def curl_command(sample: SignedSample) -> str:
    flags = " ".join(
        f"-H {shlex.quote(f'{name}: {value}')}" for name, value in sample.headers.items()
    )
    return (
        f"curl -sS -X POST {shlex.quote(sample.url)} {flags} "
        f"--data-binary {shlex.quote(sample.body.decode())}"
    )
