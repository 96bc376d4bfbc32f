"""The sample bodies of every preset, as each sender sends them (make events, sign, send and the
e2e tests use them)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from skipcall_bridge_dev import devdata

REP_ID = next(member for member in devdata.MEMBERS if member != devdata.CREATOR_ID)


TWILIO_SMS = "SM0123456789abcdef0123456789abcd01"


def form_body(fields: list[tuple[str, str]]) -> bytes:
    """A form-encoded body, as ActiveCampaign, Mailchimp and Twilio post them."""
    return urlencode(fields).encode()


def salesforce_outbound_message(
    notifications: list[dict[str, Any]],
    organization_id: str = devdata.SALESFORCE_ORG_ID,
    session_id: str | None = None,
) -> bytes:
    """A Salesforce Outbound Message as Salesforce sends it (SOAP 1.1, enterprise sObjects)."""
    items = "".join(
        f"<Notification><Id>{note['Id']}</Id>"
        f'<sObject xsi:type="sf:{note["type"]}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        + "".join(f"<sf:{name}>{value}</sf:{name}>" for name, value in note["fields"].items())
        + "</sObject></Notification>"
        for note in notifications
    )
    session = (
        f"<SessionId>{session_id}</SessionId>" if session_id else '<SessionId xsi:nil="true"/>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body>"
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{organization_id}</OrganizationId>"
        "<ActionId>04k5e000000Xyz1AAA</ActionId>"
        f"{session}"
        "<EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/00D5e000000AbCd</EnterpriseUrl>"
        "<PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D5e000000AbCd</PartnerUrl>"
        f"{items}"
        "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


SAMPLE_BODIES: dict[str, Any] = {
    # HubSpot webhooks API: an array of thin events (objects arrive as ids).
    "hubspot": [
        {"eventId": 4106325901, "subscriptionId": 2931457, "portalId": 62515, "appId": 54321,
         "occurredAt": 1795660800000, "subscriptionType": "contact.creation", "attemptNumber": 0,
         "objectId": 1201, "changeSource": "CRM", "changeFlag": "NEW"},
        {"eventId": 4106325902, "subscriptionId": 2931458, "portalId": 62515, "appId": 54321,
         "occurredAt": 1795660801000, "subscriptionType": "contact.propertyChange",
         "attemptNumber": 0, "objectId": 1202, "propertyName": "lifecyclestage",
         "propertyValue": "salesqualifiedlead", "changeSource": "CRM"},
    ],
    # HubSpot workflow "Send a webhook": the enrolled contact, with property history.
    "hubspot-workflow": {
        "vid": 1201, "canonical-vid": 1201, "portal-id": 62515, "is-contact": True,
        "properties": {
            "firstname": {"value": "Ada", "versions": [{"value": "Ada", "source-type": "CRM_UI"}]},
            "lastname": {"value": "Lovelace", "versions": []},
            "company": {"value": "Analytical Engines", "versions": []},
            "phone": {"value": "06 12 34 56 78", "versions": []},
            "email": {"value": "ada@analytical-engines.example", "versions": []},
            "hubspot_owner_id": {"value": "7001", "versions": []},
        },
    },
    # Pipedrive webhooks v2: meta / data / previous (a new person).
    "pipedrive": {
        "meta": {"action": "create", "entity": "person", "company_id": "8801", "correlation_id":
                 "5c2b6f0e-2a8f-4a57-9d0e-6a5b3c2d1e0f", "entity_id": "311",
                 "id": "7a3e4b1c-0d2f-4e5a-8b6c-9d0e1f2a3b4c", "is_bulk_edit": False,
                 "timestamp": "2026-11-26T09:00:00.000Z", "type": "general", "user_id": "17",
                 "version": "2.0", "webhook_id": "991", "webhook_owner_id": "17",
                 "change_source": "app", "attempt": 1, "host": "acme.pipedrive.com"},
        "data": {"id": 311, "name": "Marie Curie", "first_name": "Marie", "last_name": "Curie",
                 "owner_id": 17, "org_id": 42,
                 "phones": [{"value": "01 23 45 67 89", "label": "work", "primary": True}],
                 "emails": [{"value": "marie@radium.example", "label": "work", "primary": True}]},
        "previous": None,
    },
    # Close: one event per delivery, with the full current object in event.data.
    "close": {
        "subscription_id": "whsub_4fGsXSWBh4kf1pT8Qe3Hta",
        "event": {
            "id": "ev_2Qq8bLcPd9fXyGk0Ws1hZe", "date_created": "2026-11-26T09:00:00.000000",
            "action": "created", "object_type": "lead", "object_id": "lead_Yx7dP2kQ",
            "lead_id": "lead_Yx7dP2kQ", "organization_id": "orga_8Hs2LqZ",
            "user_id": "user_3KdLq9", "request_id": "req_1Xz", "changed_fields": [],
            "meta": {"request_method": "POST", "request_path": "/api/v1/lead/"},
            "previous_data": {},
            "data": {"id": "lead_Yx7dP2kQ", "display_name": "Analytical Engines Ltd",
                     "name": "Analytical Engines Ltd", "status_label": "Potential",
                     "contacts": [
                         {"id": "cont_Gr4ce", "name": "Grace Hopper",
                          "phones": [{"phone": "(415) 555-0132", "type": "office"}],
                          "emails": [{"email": "grace@analytical-engines.example"}]},
                         {"id": "cont_N0ph", "name": "Charles Babbage", "phones": []},
                     ]},
        },
    },
    # Attio: thin events under `events`.
    "attio": {
        "webhook_id": "6f2c7e1a-5b3d-4c8e-9f0a-1b2c3d4e5f60",
        "events": [
            {"event_type": "record.created",
             "id": {"workspace_id": "a1b2c3d4-0000-4000-8000-000000000001",
                    "object_id": "a1b2c3d4-0000-4000-8000-000000000002",
                    "record_id": "a1b2c3d4-0000-4000-8000-000000000003"},
             "actor": {"type": "workspace-member", "id": "a1b2c3d4-0000-4000-8000-000000000004"}},
        ],
    },
    # Salesforce Outbound Message: SOAP, two Contact notifications.
    "salesforce": salesforce_outbound_message(
        [
            {"Id": "04l5e00000AbC01AAA", "type": "Contact",
             "fields": {"Id": "0035e00000XyZ01AAA", "FirstName": "Grace", "LastName": "Hopper",
                        "Phone": "+14155550100", "OwnerId": "0055e00000Own01AAA"}},
            {"Id": "04l5e00000AbC02AAA", "type": "Contact",
             "fields": {"Id": "0035e00000XyZ02AAA", "FirstName": "Katherine",
                        "LastName": "Johnson", "OwnerId": "0055e00000Own01AAA"}},
        ]
    ),
    # Salesforce Flow HTTP callout (named credential adds X-Skipcall-Token).
    "salesforce-flow": {"recordId": "0065e00000Opp01AAA", "name": "Renewal call: Initech"},
    "zapier": {
        "name": "Inbound demo request: ACME Corp",
        "creatorId": devdata.CREATOR_ID,
        "assignedToIds": [devdata.CREATOR_ID, REP_ID],
    },
    "make": {
        "scenario": "Qualified leads",
        "leads": [
            {"firstName": "Ada", "lastName": "Lovelace", "company": "Analytical Engines",
             "ownerId": devdata.CREATOR_ID},
            {"firstName": "Alan", "lastName": "Turing", "ownerId": REP_ID},
        ],
    },
    "n8n": {
        "type": "lead.qualified",
        "timestamp": "2026-11-26T09:00:00Z",
        "data": {
            "lead": {"name": "Grace Hopper", "email": "grace@example.com"},
            "ownerEmail": "Owner@Example.com",
            "assigneeEmails": ["rep@example.com"],
        },
    },
    # HubSpot workflow "Send a webhook", customised body: the enrolled contact, its owner and
    # the deal it is enrolled for (so that `hubspot-deals` can take it out when the deal ends).
    "hubspot-enrol": {
        "contactId": 1301, "firstname": "Katherine", "lastname": "Johnson",
        "phone": "06 98 76 54 32", "email": "katherine@nasa.example", "company": "NASA",
        "ownerId": "7001", "dealId": 9001,
    },
    # HubSpot webhooks API: the deal was won (and an amount change the preset ignores).
    "hubspot-deals": [
        {"eventId": 4106326001, "subscriptionId": 2931460, "portalId": 62515, "appId": 54321,
         "occurredAt": 1795661000000, "subscriptionType": "deal.propertyChange",
         "attemptNumber": 0, "objectId": 9001, "propertyName": "dealstage",
         "propertyValue": "closedwon", "changeSource": "CRM"},
        {"eventId": 4106326002, "subscriptionId": 2931461, "portalId": 62515, "appId": 54321,
         "occurredAt": 1795661000500, "subscriptionType": "deal.propertyChange",
         "attemptNumber": 0, "objectId": 9001, "propertyName": "amount",
         "propertyValue": "12000", "changeSource": "CRM"},
    ],
    # Pipedrive webhooks v2: a person added (enrolled).
    "pipedrive-enrol": {
        "meta": {"action": "create", "entity": "person", "company_id": "8801",
                 "correlation_id": "9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "entity_id": "312",
                 "id": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "is_bulk_edit": False,
                 "timestamp": "2026-11-26T09:05:00.000Z", "type": "general", "user_id": "17",
                 "version": "2.0", "webhook_id": "992", "webhook_owner_id": "17",
                 "change_source": "app", "attempt": 1, "host": "acme.pipedrive.com"},
        "data": {"id": 312, "name": "Pierre Curie", "first_name": "Pierre", "last_name": "Curie",
                 "owner_id": 17, "org_id": 42,
                 "phones": [{"value": "01 98 76 54 32", "label": "work", "primary": True}],
                 "emails": [{"value": "pierre@radium.example", "label": "work", "primary": True}]},
        "previous": None,
    },
    # Close: a lead moved to an open status (its contacts are enrolled).
    "close-enrol": {
        "subscription_id": "whsub_4fGsXSWBh4kf1pT8Qe3Hta",
        "event": {
            "id": "ev_7Rr1cMdQ0gYzHl1Xt2iAf", "date_created": "2026-11-26T09:10:00.000000",
            "action": "updated", "object_type": "lead", "object_id": "lead_Qp3sK8vW",
            "lead_id": "lead_Qp3sK8vW", "organization_id": "orga_8Hs2LqZ",
            "user_id": "user_3KdLq9", "request_id": "req_2Yz", "changed_fields": ["status_id"],
            "meta": {"request_method": "PUT", "request_path": "/api/v1/lead/lead_Qp3sK8vW/"},
            "previous_data": {"status_id": "stat_potential", "status_label": "Potential"},
            "data": {"id": "lead_Qp3sK8vW", "display_name": "Difference Engines",
                     "name": "Difference Engines", "status_id": "stat_qualified",
                     "status_label": "Qualified",
                     "contacts": [
                         {"id": "cont_Ad4L", "name": "Ada Byron",
                          "phones": [{"phone": "(415) 555-0199", "type": "mobile"}]},
                     ]},
        },
    },
    # Zapier, Make or n8n: enrol these people into the sequence of this name.
    "automation-enrol": {
        "sequence": "Webinar follow-up", "owner": "owner@example.com",
        "assignTo": "rep@example.com",
        "contacts": [
            {"id": "zap-1", "firstName": "Alan", "lastName": "Turing",
             "phone": "+44 20 7946 0018", "email": "alan@example.com"},
            {"id": "zap-2", "firstName": "Joan", "lastName": "Clarke",
             "phone": "+44 20 7946 0019"},
        ],
    },
    # Calendly: an invitee booked (webhook subscription, `invitee.created`).
    "calendly": {
        "created_at": "2026-11-26T09:20:00.000000Z", "created_by":
            "https://api.calendly.com/users/AAAAAAAAAAAAAAAA", "event": "invitee.created",
        "payload": {
            "uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAA0001",
            "email": "mary.jackson@nasa.example", "name": "Mary Jackson", "first_name": "Mary",
            "last_name": "Jackson", "status": "active", "timezone": "America/New_York",
            "text_reminder_number": "+1 415-555-0143", "rescheduled": False,
            "scheduled_event": {"uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2",
                                "name": "Discovery call", "start_time": "2026-12-01T15:00:00Z"},
        },
    },
    # Typeform: a form response (`form_response`), answers by field ref and type.
    "typeform": {
        "event_id": "01JBXG7V5M6Q3F2Y8W9Z0A1B2C", "event_type": "form_response",
        "form_response": {
            "form_id": "lT4Z3j", "token": "a3a12ec67a1365927098a606107fac15",
            "submitted_at": "2026-11-26T09:30:00Z",
            "definition": {"id": "lT4Z3j", "title": "Demo request"},
            "answers": [
                {"type": "text", "text": "Dorothy", "field": {"id": "f1", "type": "short_text",
                                                               "ref": "first_name"}},
                {"type": "text", "text": "Vaughan", "field": {"id": "f2", "type": "short_text",
                                                               "ref": "last_name"}},
                {"type": "email", "email": "dorothy@nasa.example",
                 "field": {"id": "f3", "type": "email", "ref": "email"}},
                {"type": "phone_number", "phone_number": "+33612345670",
                 "field": {"id": "f4", "type": "phone_number", "ref": "phone"}},
            ],
        },
    },
    # Intercom: a lead created (`contact.lead.created` notification).
    "intercom": {
        "type": "notification_event", "app_id": "abc123", "id": "notif_7c1f0e2a",
        "topic": "contact.lead.created", "created_at": 1795661400,
        "data": {"type": "notification_event_data", "item": {
            "type": "contact", "id": "6571f0c9a1b2c3d4e5f60718", "role": "lead",
            "name": "Annie Easley", "email": "annie@nasa.example", "phone": "+1 415-555-0187",
        }},
    },
    # Anything Stripe-style: `Stripe-Signature: t=...,v1=...` over "t.body".
    "stripe-style": {
        "id": "evt_1QaZ2b3C4d5E6f7G", "type": "lead.qualified",
        "data": {"name": "Call Katherine (qualified)", "creatorId": devdata.CREATOR_ID,
                 "assignedToIds": [devdata.CREATOR_ID, REP_ID]},
    },
    # monday.com board webhook: an item created (its phone and email columns).
    "monday": {
        "event": {
            "app": "monday", "type": "create_pulse", "triggerTime": "2026-11-26T09:40:00.000Z",
            "subscriptionId": 73759690, "userId": 4012689, "originalTriggerUuid": None,
            "boardId": 3161280891, "pulseId": 3161281501, "pulseName": "Hedy Lamarr",
            "groupId": "topics", "groupName": "New leads", "isTopGroup": True,
            "columnValues": {
                "phone": {"phone": "+33612345671", "countryShortName": "FR"},
                "email": {"email": "hedy@frequency.example", "text": "hedy@frequency.example"},
            },
            "triggerUuid": "6a8f6c2b1c9d4b0e8f3a2d1c0b9a8f7e",
        },
    },
    # Dynamics 365 (Dataverse) webhook on Create of a contact: the RemoteExecutionContext.
    "dynamics": {
        "BusinessUnitId": "b1c2d3e4-0000-4000-8000-000000000001",
        "CorrelationId": "c1d2e3f4-0000-4000-8000-000000000002", "Depth": 1,
        "InitiatingUserId": "d1e2f3a4-0000-4000-8000-000000000003",
        "InputParameters": [{"key": "Target", "value": {
            "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
            "Attributes": [
                {"key": "firstname", "value": "Evelyn"}, {"key": "lastname", "value": "Boyd"},
                {"key": "mobilephone", "value": "+1 415-555-0112"},
                {"key": "emailaddress1", "value": "evelyn@census.example"},
            ],
            "Id": "e1f2a3b4-0000-4000-8000-000000000004", "LogicalName": "contact"}}],
        "IsExecutingOffline": False, "MessageName": "Create", "Mode": 1,
        "OperationCreatedOn": "/Date(1795662000000)/",
        "OperationId": "f1a2b3c4-0000-4000-8000-000000000005",
        "OrganizationId": "a1b2c3d4-0000-4000-8000-000000000006",
        "OrganizationName": "contoso", "PrimaryEntityId": "e1f2a3b4-0000-4000-8000-000000000004",
        "PrimaryEntityName": "contact", "RequestId": "a9b8c7d6-0000-4000-8000-000000000007",
        "Stage": 40, "UserId": "d1e2f3a4-0000-4000-8000-000000000003",
    },
    # Zoho CRM workflow webhook, a JSON body of merge fields (${Leads.First Name}, ...).
    "zoho": {
        "id": "5725767000000456001", "first_name": "Mae", "last_name": "Jemison",
        "mobile": "06 11 22 33 44", "phone": "", "email": "mae@endeavour.example",
        "owner_email": "owner@example.com",
    },
    # A Meta-style (Graph API) webhook: a lead-gen change, `X-Hub-Signature-256` signed.
    "meta-style": {
        "object": "page",
        "entry": [{"id": "1234567890", "time": 1795662300, "changes": [
            {"field": "leadgen", "value": {"leadgen_id": "444555666777", "page_id": "1234567890",
                                           "form_id": "98765", "created_time": 1795662290}},
        ]}],
    },
    # ActiveCampaign: a contact subscribed to a list (form-encoded, PHP-style names).
    "activecampaign": form_body([
        ("type", "subscribe"), ("date_time", "2026-12-04T10:15:00-06:00"),
        ("initiated_by", "admin"), ("initiated_from", "admin"), ("list", "3"),
        ("contact[id]", "42"), ("contact[email]", "radia@example.com"),
        ("contact[first_name]", "Radia"), ("contact[last_name]", "Perlman"),
        ("contact[phone]", "+1 415 555 0123"), ("contact[tags]", "webinar, inbound"),
        ("contact[fields][12]", "Enterprise"), ("contact[ip4]", "203.0.113.7"),
    ]),
    # Mailchimp: an audience member subscribed (form-encoded, data[merges][...]).
    "mailchimp": form_body([
        ("type", "subscribe"), ("fired_at", "2026-12-04 16:20:11"),
        ("data[id]", "8a25ff1d98"), ("data[list_id]", "a6b5da1054"),
        ("data[email]", "frances@example.com"), ("data[email_type]", "html"),
        ("data[ip_opt]", "203.0.113.8"), ("data[web_id]", "1786"),
        ("data[merges][EMAIL]", "frances@example.com"), ("data[merges][FNAME]", "Frances"),
        ("data[merges][LNAME]", "Allen"), ("data[merges][PHONE]", "(415) 555-0150"),
        ("data[merges][INTERESTS]", "Demo, Pricing"),
    ]),
    # Twilio: a text received on the account's number (Messaging webhook, form-encoded).
    "twilio": form_body([
        ("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", TWILIO_SMS),
        ("NumMedia", "0"), ("ToCity", "SAN FRANCISCO"), ("FromZip", "94105"),
        ("SmsSid", TWILIO_SMS), ("FromState", "CA"), ("SmsStatus", "received"),
        ("FromCity", "SAN FRANCISCO"), ("Body", "Hi, can someone call me about pricing?"),
        ("FromCountry", "US"), ("To", "+14155550100"), ("ToZip", "94105"),
        ("NumSegments", "1"), ("MessageSid", TWILIO_SMS),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"), ("From", "+14155550177"),
        ("ApiVersion", "2010-04-01"),
    ]),
    # Zendesk: the body a trigger sends (docs/senders.md), the ticket's requester with a phone.
    "zendesk": {
        "ticket": {"id": 35436, "subject": "Call me back about my order", "status": "new",
                   "requester": {"id": 90817264, "name": "Dorothy Vaughan",
                                 "first_name": "Dorothy", "last_name": "Vaughan",
                                 "email": "dorothy.vaughan@example.com",
                                 "phone": "+1 415-555-0148"}},
    },
    # SendGrid Event Webhook: an array of events; custom args (phone, names) ride along.
    "sendgrid": [
        {"email": "ada@example.com", "timestamp": 1796722200, "event": "click",
         "url": "https://example.com/demo", "sg_event_id": "c2ctY2xpY2stMDAx",
         "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
         "first_name": "Ada", "last_name": "Lovelace", "phone": "+1 415-555-0171"},
        {"email": "ada@example.com", "timestamp": 1796722190, "event": "open",
         "sg_event_id": "c2ctb3Blbi0wMDE", "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001"},
    ],
    # Asana: an event batch (compact: the task's gid, not its fields).
    "asana": {"events": [
        {"user": {"gid": "12345", "resource_type": "user"},
         "created_at": "2026-12-08T09:30:00.000Z", "action": "added",
         "resource": {"gid": "1201", "resource_type": "task", "resource_subtype": "default_task"},
         "parent": {"gid": "1100", "resource_type": "project"}},
    ]},
    # Keap REST hook: the event and the keys of what it is about.
    "keap": {"event_key": "contact.add", "object_type": "contact", "object_keys": [
        {"apiUrl": "https://api.infusionsoft.com/crm/rest/v1/contacts/2117", "id": 2117,
         "timestamp": "2026-12-08T09:30:00.000Z"},
    ]},
    # HighLevel: a ContactCreate webhook (its `timestamp` is written when it is signed).
    "highlevel": {
        "type": "ContactCreate", "locationId": "ve9EPM428h8vShlRW1KT", "id": "nmFmQEsNgz6AVpgLVUJ0",
        "firstName": "Margaret", "lastName": "Hamilton", "email": "margaret@example.com",
        "phone": "+1 415-555-0162", "source": "form", "timestamp": "2026-12-08T09:30:00.000Z",
        "webhookId": "7b7a3d7e-5f12-4c33-9f0e-4d1e1f2a3b4c",
    },
}  # fmt: skip
