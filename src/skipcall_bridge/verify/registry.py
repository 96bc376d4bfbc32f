"""A source's `auth` block -> its verifier."""

from __future__ import annotations

from skipcall_bridge.verify.attio import AttioVerifier
from skipcall_bridge.verify.base import Verifier
from skipcall_bridge.verify.basic import BasicVerifier
from skipcall_bridge.verify.bearer import BearerVerifier
from skipcall_bridge.verify.close import CloseVerifier
from skipcall_bridge.verify.hmac import HmacVerifier
from skipcall_bridge.verify.hmac_sha256 import HmacSha256Verifier
from skipcall_bridge.verify.hubspot import HubSpotVerifier
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
    SalesforceAuth,
    StandardWebhooksAuth,
)
from skipcall_bridge.verify.standard_webhooks import StandardWebhooksVerifier


def build_verifier(auth: AuthConfig) -> Verifier:  # noqa: PLR0911 - one return per scheme
    match auth:
        case BearerAuth():
            return BearerVerifier(auth.header)
        case HmacAuth():
            return HmacVerifier(auth)
        case HmacSha256Auth():
            return HmacSha256Verifier(auth.header, auth.encoding, auth.prefix)
        case StandardWebhooksAuth():
            return StandardWebhooksVerifier(auth.tolerance_seconds)
        case HubSpotAuth():
            return HubSpotVerifier(auth.versions, auth.tolerance_seconds, auth.allow_legacy)
        case CloseAuth():
            return CloseVerifier(auth.tolerance_seconds)
        case AttioAuth():
            return AttioVerifier()
        case BasicAuth():
            return BasicVerifier()
        case SalesforceAuth():
            return SalesforceVerifier(auth.organization_ids, auth.token_parameter)
