"""API Gateway HTTP API (payload 2.0) event -> the raw request a verifier checks."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from skipcall_bridge.common.errors import InvalidJson
from skipcall_bridge.verify import Headers, SignedRequest


@dataclass(frozen=True)
class PublicUrl:
    """What the sender is told to call: a source's own `publicUrl`, or the stack's base."""

    source_url: str | None = None
    base_url: str | None = None


def signed_request(
    event: APIGatewayProxyEventV2, source: str, public: PublicUrl | None = None
) -> SignedRequest:
    # The event's own dict: the data class would build a wrapper object per field read.
    raw = event.raw_event
    headers = Headers(raw.get("headers"))
    return SignedRequest(
        method=raw["requestContext"]["http"]["method"],
        url=public_url(event, headers, source, public),
        body=raw_body(event),
        headers=headers,
    )


def raw_body(event: APIGatewayProxyEventV2) -> bytes:
    """The bytes the sender signed: never a re-serialized or text-decoded copy."""
    body = event.body or ""
    if not event.is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidJson("The body is not valid base64.") from None


def public_url(
    event: APIGatewayProxyEventV2, headers: Headers, source: str, public: PublicUrl | None
) -> str:
    """The URL the sender called, for URL-signing schemes (HubSpot, Twilio, `{url}`, JWT `aud`):
    the source's `publicUrl`, else PUBLIC_BASE_URL/webhooks/<source>, else https:// + the domain
    API Gateway was called at (`requestContext.domainName`) + the path; the Host header only
    where the event has no domain. The Host header is the client's to say, so a URL built from
    it would let a captured signature verify for a URL the sender never called. Behind an API
    mapping or CloudFront the event shows neither the public host nor the mapping key: set one
    of the first two wherever a scheme signs the URL (`check-config` warns). The query is always
    the request's own, as sent."""
    query = f"?{event.raw_query_string}" if event.raw_query_string else ""
    if public is not None and public.source_url:
        return f"{public.source_url}{query}"
    if public is not None and public.base_url:
        return f"{public.base_url.rstrip('/')}/webhooks/{source}{query}"
    host = event.request_context.domain_name or headers.get("host")
    return f"https://{host}{event.raw_path}{query}"
