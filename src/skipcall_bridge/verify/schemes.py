"""The `auth` block of a source: one pydantic model per scheme, told apart by `scheme`."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field


class _AuthBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    secret_id: str = Field(alias="secretId", min_length=1)


class BearerAuth(_AuthBase):
    scheme: Literal["bearer"]


class HmacSha256Auth(_AuthBase):
    scheme: Literal["hmac-sha256"]
    header: str = Field(default="x-signature", min_length=1, pattern=r"^[A-Za-z0-9-]+$")
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""


class StandardWebhooksAuth(_AuthBase):
    scheme: Literal["standard-webhooks"]
    tolerance_seconds: int = Field(default=300, alias="toleranceSeconds", gt=0, le=3600)


AuthConfig = Annotated[
    BearerAuth | HmacSha256Auth | StandardWebhooksAuth, Field(discriminator="scheme")
]

# The tags above, for error messages (pydantic puts the matched tag in validation paths).
SCHEME_NAMES = frozenset(
    get_args(model.model_fields["scheme"].annotation)[0]
    for model in (BearerAuth, HmacSha256Auth, StandardWebhooksAuth)
)
