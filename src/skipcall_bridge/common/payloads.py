"""Body formats: JSON, form-encoded fields (form_body), and Salesforce Outbound Messages (SOAP)
parsed safely into JSON shapes; `auto` picks one of them by the request's Content-Type."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from skipcall_bridge.common.errors import InvalidJson, InvalidXml
from skipcall_bridge.common.form_body import parse_form

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

BodyFormat = Literal["json", "form", "xml"]  # how a body is read
ConfiguredFormat = Literal["json", "form", "xml", "auto"]  # what a source may say
OUTBOUND_NS = "{http://soap.sforce.com/2005/09/outbound}"
XSI_NS = "{http://www.w3.org/2001/XMLSchema-instance}"
# A live Salesforce session token when "Send Session ID" is ticked: never stored or logged.
DROPPED_FIELDS = frozenset({"SessionId"})


def parse_body(body: bytes, body_format: BodyFormat) -> Any:
    if body_format == "xml":
        return parse_outbound_message(body)
    if body_format == "form":
        return parse_form(body)
    return parse_json(body)


def format_for(configured: ConfiguredFormat, content_type: str | None) -> BodyFormat:
    """The format a body is read in: the source's, or for `auto` the Content-Type's media type
    (form-encoded, XML, else JSON: a sender that leaves it out or says text/plain is read as
    JSON, the most common body)."""
    if configured != "auto":
        return configured
    media = (content_type or "").partition(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return "form"
    if media in ("text/xml", "application/xml", "application/soap+xml"):
        return "xml"
    return "json"


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


# NaN and Infinity are not JSON: refusing them keeps every envelope valid JSON. One decoder for
# the process: json.loads with an option builds a new decoder and scanner on every call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


# Deeper than any sender nests: every later step that walks a payload with recursion (hashing,
# the idempotency record, the envelope) stays far from Python's recursion limit. A deeper body is
# not refused silently: it is stored once, whole, as an invalid body.
MAX_DEPTH = 512


def parse_json(body: bytes) -> Any:
    try:
        # As json.loads reads bytes: UTF-8, -16 or -32 (a bad byte is a ValueError too).
        parsed = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (ValueError, RecursionError):
        raise InvalidJson("The body is not valid JSON.") from None
    if _deeper_than(parsed, MAX_DEPTH):
        raise InvalidJson(f"The body nests deeper than {MAX_DEPTH} levels.")
    return parsed


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests lists and objects more than `limit` deep (iterative: a hostile
    body cannot make this recurse)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                pending.append((child, depth + 1))
    return False


def parse_outbound_message(body: bytes) -> dict[str, Any]:
    """`notifications` -> {"OrganizationId", "ActionId", …, "Notification": [{"Id", "sObject"}]}.

    DTDs, entities and external references are refused (billion laughs, XXE).
    """
    # Only Salesforce sources need an XML parser: it loads with the first SOAP body.
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise InvalidXml("The body is not a safe XML document (no DTDs or entities).") from None
    notifications = root.find(f".//{OUTBOUND_NS}notifications")
    if notifications is None:
        raise InvalidXml("The body is not a Salesforce outbound message.")
    message: dict[str, Any] = {"Notification": []}
    for child in notifications:
        name = _local(child.tag)
        if name == "Notification":
            message["Notification"].append(_notification(child))
        elif name not in DROPPED_FIELDS:
            message[name] = _text(child)
    if not message.get("OrganizationId"):
        raise InvalidXml("The outbound message has no OrganizationId.")
    return message


def _notification(element: Element) -> dict[str, Any]:
    notification: dict[str, Any] = {}
    for child in element:
        name = _local(child.tag)
        if name == "sObject":
            record: dict[str, Any] = {"type": _local(child.get(f"{XSI_NS}type", ""))}
            record.update((_local(field.tag), _text(field)) for field in child)
            notification["sObject"] = record
        else:
            notification[name] = _text(child)
    return notification


def _local(name: str) -> str:
    """`{namespace}Tag` or `prefix:Tag` -> `Tag`."""
    return name.rpartition("}")[2].rpartition(":")[2]


def _text(element: Element) -> str | None:
    if element.get(f"{XSI_NS}nil") == "true":
        return None
    return element.text.strip() if element.text else ""
