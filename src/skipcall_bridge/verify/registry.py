"""A source's `auth` block -> its verifier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skipcall_bridge.verify.attio import AttioVerifier
from skipcall_bridge.verify.base import Verifier
from skipcall_bridge.verify.basic import BasicVerifier
from skipcall_bridge.verify.bearer import BearerVerifier
from skipcall_bridge.verify.close import CloseVerifier
from skipcall_bridge.verify.hmac import HmacVerifier
from skipcall_bridge.verify.hmac_sha256 import HmacSha256Verifier
from skipcall_bridge.verify.hubspot import HubSpotVerifier
from skipcall_bridge.verify.jwt_token import JwtVerifier
from skipcall_bridge.verify.query_key import QueryKeyVerifier
from skipcall_bridge.verify.salesforce import SalesforceVerifier
from skipcall_bridge.verify.schemes import (
    AttioAuth,
    AuthConfig,
    BasicAuth,
    BearerAuth,
    CloseAuth,
    HmacAuth,
    HmacSha256Auth,
    HubSpotAuth,
    JwtAuth,
    PublicKeyAuth,
    QueryKeyAuth,
    SalesforceAuth,
    StandardWebhooksAuth,
    TwilioAuth,
)
from skipcall_bridge.verify.standard_webhooks import StandardWebhooksVerifier
from skipcall_bridge.verify.twilio import TwilioVerifier


def _public_key(auth: Any) -> Verifier:
    # only where a source uses it: an HMAC-only deployment never loads `cryptography`
    from skipcall_bridge.verify.public_key import PublicKeyVerifier  # noqa: PLC0415

    return PublicKeyVerifier(auth)


# Each scheme's verifier, from its validated `auth` block.
BUILDERS: dict[type, Callable[[Any], Verifier]] = {
    BearerAuth: lambda auth: BearerVerifier(auth.header),
    HmacAuth: HmacVerifier,
    PublicKeyAuth: _public_key,
    JwtAuth: lambda auth: JwtVerifier(
        auth.header,
        auth.audience,
        auth.leeway_seconds,
        auth.max_lifetime_seconds,
        auth.single_use,
    ),
    QueryKeyAuth: lambda auth: QueryKeyVerifier(auth.parameter),
    HmacSha256Auth: lambda auth: HmacSha256Verifier(auth.header, auth.encoding, auth.prefix),
    StandardWebhooksAuth: lambda auth: StandardWebhooksVerifier(auth.tolerance_seconds),
    HubSpotAuth: lambda auth: HubSpotVerifier(
        auth.versions, auth.tolerance_seconds, auth.allow_legacy
    ),
    CloseAuth: lambda auth: CloseVerifier(auth.tolerance_seconds),
    AttioAuth: lambda auth: AttioVerifier(),
    BasicAuth: lambda auth: BasicVerifier(),
    SalesforceAuth: lambda auth: SalesforceVerifier(auth.organization_ids, auth.token_parameter),
    TwilioAuth: lambda auth: TwilioVerifier(),
}


def build_verifier(auth: AuthConfig) -> Verifier:
    return BUILDERS[type(auth)](auth)
