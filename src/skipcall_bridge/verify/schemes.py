"""The `auth` block of a source: one pydantic model per scheme, told apart by `scheme`.

Each model also carries what is fixed about its sender, used when the source does not say:
the body format, where the events are, which field is the delivery id, the fields the sender
changes between attempts of one delivery, the time budget that fits the sender's timeout, and
the status that answers a delivery whose every event failed to map (a stored letter is not the
sender's problem: senders that retry or ban on 4xx get 202; people reading a test step, 422).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.common.payloads import ConfiguredFormat
from skipcall_bridge.verify.fields import HeaderName, Tolerance
from skipcall_bridge.verify.hmac_grammar import HmacGrammar, PublicKeyGrammar

UnmappedStatus = Literal[202, 422]
SalesforceOrgId = Annotated[str, Field(pattern=r"^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")]


class _AuthBase(BaseModel):
    # Built on first use (validate_auth): only the schemes a sources file names are built.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    body_format: ClassVar[ConfiguredFormat] = "json"
    default_events: ClassVar[str | None] = None
    default_delivery_id: ClassVar[str | None] = None
    default_budget_seconds: ClassVar[float] = 4.0
    default_volatile_fields: ClassVar[tuple[str, ...]] = ()
    default_unmapped_status: ClassVar[UnmappedStatus] = 422

    secret_id: str = Field(alias="secretId", min_length=1)


class BearerAuth(_AuthBase):
    scheme: Literal["bearer"]
    header: HeaderName | None = None


class HmacAuth(_AuthBase, HmacGrammar):
    scheme: Literal["hmac"]


class PublicKeyAuth(_AuthBase, PublicKeyGrammar):
    """A signature made with the sender's private key (verify/public_key.py). No `secretId`:
    a public key is no secret; `publicKeysSecretId` may hold the keys instead of the file."""

    scheme: Literal["public-key"]
    secret_id: None = Field(default=None, alias="secretId")  # type: ignore[assignment]

    @model_validator(mode="after")
    def _keys_load(self) -> PublicKeyAuth:
        # only a source of this scheme loads `cryptography`
        from skipcall_bridge.verify.public_key import load_public_key  # noqa: PLC0415

        for number, text in enumerate(self.public_keys, start=1):
            try:
                load_public_key(text, self.algorithm)
            except ConfigurationError as exc:
                raise ValueError(f"publicKeys[{number - 1}]: {exc}") from None
        return self


class JwtAuth(_AuthBase):
    """A JWT in `Authorization` (monday.com), HS256 with the signing secret; `exp` and `iat`
    required and checked, `aud` the URL called unless `audience` is `none`."""

    scheme: Literal["jwt"]
    header: HeaderName = "authorization"
    audience: Literal["url", "none"] = "url"
    leeway_seconds: int = Field(default=30, alias="leewaySeconds", ge=0, le=300)
    # The longest a token may live (exp - iat, and exp - now): ten minutes unless the sender
    # needs more, at most an hour.
    max_lifetime_seconds: int = Field(default=600, alias="maxLifetimeSeconds", ge=1, le=3600)
    # A token is good for the body it first came with (and that body's retries) only.
    single_use: bool = Field(default=False, alias="singleUse")


class QueryKeyAuth(_AuthBase):
    """A key in the query string (Dynamics 365's WebhookKey: `?code=...`)."""

    scheme: Literal["query-key"]
    parameter: str = Field(default="code", min_length=1)


class HmacSha256Auth(_AuthBase):
    scheme: Literal["hmac-sha256"]
    header: HeaderName = "x-signature"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""


class StandardWebhooksAuth(_AuthBase):
    scheme: Literal["standard-webhooks"]
    tolerance_seconds: Tolerance = 300


class HubSpotAuth(_AuthBase):
    default_delivery_id = "eventId"  # webhooks API events; workflow bodies have none
    # Each webhooks-API event counts its tries (0 first): developers.hubspot.com/docs/api/webhooks
    default_volatile_fields = ("attemptNumber",)
    default_unmapped_status = 202  # the webhooks API retries every 4xx, 10 times

    scheme: Literal["hubspot"]
    versions: list[Literal["v3", "v2", "v1"]] = Field(default=["v3"], min_length=1)
    tolerance_seconds: Tolerance = 300
    # v1/v2 signatures carry no timestamp (a captured request verifies forever): beside v3 they
    # are accepted only when this says so.
    allow_legacy: bool = Field(default=False, alias="allowLegacy")


class CloseAuth(_AuthBase):
    default_delivery_id = "event.id"
    default_unmapped_status = 202  # retried with backoff for 72 h

    scheme: Literal["close"]
    tolerance_seconds: Tolerance = 300


class AttioAuth(_AuthBase):
    default_events = "events"
    default_unmapped_status = 202

    scheme: Literal["attio"]


class BasicAuth(_AuthBase):
    # Pipedrive's only option. v1 bodies count `retry` (0 first), v2 `meta.attempt` (1 first):
    # pipedrive.readme.io/docs/guide-for-webhooks and .../guide-for-webhooks-v2
    default_volatile_fields = ("retry", "meta.attempt")
    default_unmapped_status = 202  # every first-attempt failure counts toward a ban

    scheme: Literal["basic"]


class SalesforceAuth(_AuthBase):
    body_format = "xml"
    default_events = "Notification"
    default_delivery_id = "Id"
    default_budget_seconds = 20.0
    default_unmapped_status = 202  # resent for 24 h until Ack

    scheme: Literal["salesforce"]
    organization_ids: list[SalesforceOrgId] = Field(alias="organizationIds", min_length=1)
    token_parameter: str = Field(default="token", alias="tokenParameter", min_length=1)


class TwilioAuth(_AuthBase):
    """X-Twilio-Signature (verify/twilio.py); the secret is the Auth Token (or SharedKey)."""

    body_format = "auto"  # form fields mostly; JSON (with bodySHA256) for newer products
    # A message or call and the status it reports: each status callback is its own event.
    # Without either sid, no id of its own (not ":", which every such delivery would share).
    default_delivery_id = (
        "(MessageSid || CallSid) && join(':', [MessageSid || CallSid,"
        " MessageStatus || CallStatus || SmsStatus || ''])"
    )
    default_budget_seconds = 10.0  # Twilio waits 15 s for an answer

    scheme: Literal["twilio"]


AUTH_MODELS = (
    BearerAuth,
    HmacAuth,
    PublicKeyAuth,
    JwtAuth,
    QueryKeyAuth,
    HmacSha256Auth,
    StandardWebhooksAuth,
    HubSpotAuth,
    CloseAuth,
    AttioAuth,
    BasicAuth,
    SalesforceAuth,
    TwilioAuth,
)
AuthModel = (
    BearerAuth
    | HmacAuth
    | PublicKeyAuth
    | JwtAuth
    | QueryKeyAuth
    | HmacSha256Auth
    | StandardWebhooksAuth
    | HubSpotAuth
    | CloseAuth
    | AttioAuth
    | BasicAuth
    | SalesforceAuth
    | TwilioAuth
)
SCHEMES: dict[str, type[_AuthBase]] = {
    get_args(model.model_fields["scheme"].annotation)[0]: model for model in AUTH_MODELS
}

_SCHEME_LIST = ", ".join(SCHEMES)  # for the messages below


def validate_auth(value: Any) -> _AuthBase:
    """The `auth` block, validated by its scheme's model alone: a model is built on first use,
    so a sources file pays only for the schemes it uses (a pydantic discriminated union builds
    all thirteen, about 10 ms of every cold start)."""
    if isinstance(value, _AuthBase):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "model_attributes_type", "Input should be an object with a `scheme`"
        )
    if "scheme" not in value:
        raise PydanticCustomError(
            "union_tag_not_found",
            "`scheme` is missing: one of {expected}",
            {"expected": _SCHEME_LIST},
        )
    model = SCHEMES.get(value["scheme"]) if isinstance(value["scheme"], str) else None
    if model is None:
        raise PydanticCustomError(
            "union_tag_invalid",
            "scheme {tag} is not one of {expected}",
            {"tag": json.dumps(value["scheme"]), "expected": _SCHEME_LIST},
        )
    return model.model_validate(value)


class _ByScheme:
    """Field metadata: `auth` is checked by validate_auth; the JSON Schema (editors, `schema`)
    is still the discriminated union, built only when asked for."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(validate_auth)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        union = Annotated[AuthModel, Field(discriminator="scheme")]
        return handler(TypeAdapter(union).core_schema)


AuthConfig = Annotated[AuthModel, _ByScheme()]
