"""Process settings, read from the environment once per container."""

from __future__ import annotations

import os
from collections.abc import Mapping
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from skipcall_bridge.common.errors import ConfigurationError

# SOURCES_CONFIG defaults to `sources.json` beside the package (the root of the Lambda zip).
DEFAULT_SOURCES_PATH = Path(__file__).resolve().parent.parent / "sources.json"
# The largest body whose dead letter always fits one SQS message (1 MiB): base64 makes 4/3 of
# it, and the DTO and the error need the rest.
MAX_BODY_BYTES = 760 * 1024


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    skipcall_api_url: str = Field(
        default="https://api-public.skipcall.app", alias="SKIPCALL_API_URL", pattern=r"^https?://"
    )
    api_key_secret_id: str = Field(alias="SKIPCALL_API_KEY_SECRET_ID", min_length=1)
    dead_letter_queue_url: str = Field(alias="DEAD_LETTER_QUEUE_URL", min_length=1)
    # What did not fit in a sender's budget, or met Skipcall's rate limit, waits here for the
    # worker (unset: it is dead-lettered as BUDGET_EXHAUSTED or RATE_LIMITED, as before).
    work_queue_url: str | None = Field(default=None, alias="WORK_QUEUE_URL", min_length=1)
    # The work queue's maxReceiveCount: at the receive before it the worker dead-letters a
    # message with its last failure itself, rather than leave SQS to move it with its first
    # reason (the last receive is kept spare for a worker that died right after).
    work_max_receive_count: int = Field(default=5, alias="WORK_MAX_RECEIVE_COUNT", ge=1, le=1000)
    # The length of Skipcall's rate-limit window (a minute on every plan): deferred events are
    # spread over windows of this length once the current one is spent.
    skipcall_rate_window_seconds: float = Field(
        default=60.0, alias="SKIPCALL_RATE_WINDOW_SECONDS", gt=0, le=3600
    )
    sources_config: Path = Field(default=DEFAULT_SOURCES_PATH, alias="SOURCES_CONFIG")
    idempotency_table: str | None = Field(default=None, alias="IDEMPOTENCY_TABLE")
    # Longer than any sender retries (HubSpot ~1 day, Close 3 days, Standard Webhooks ~3 days).
    idempotency_expires_after_seconds: int = Field(
        default=4 * 24 * 3600, alias="IDEMPOTENCY_EXPIRES_AFTER_SECONDS", ge=60
    )
    public_base_url: str | None = Field(
        default=None, alias="PUBLIC_BASE_URL", pattern=r"^https?://[^?#]+$"
    )
    # The link table: CRM contacts and sequence names -> Skipcall ids. CONTACT_LINKS_TABLE is
    # its former name, still read.
    links_table: str | None = Field(
        default=None,
        alias="LINKS_TABLE",
        validation_alias=AliasChoices("LINKS_TABLE", "CONTACT_LINKS_TABLE"),
    )
    members_cache_seconds: int = Field(default=300, alias="MEMBERS_CACHE_SECONDS", ge=0)
    replay_max_attempts: int = Field(default=5, alias="REPLAY_MAX_ATTEMPTS", ge=1, le=100)
    aws_region: str | None = Field(default=None, alias="AWS_REGION")
    max_body_bytes: int = Field(default=256 * 1024, alias="MAX_BODY_BYTES", gt=0, le=MAX_BODY_BYTES)
    secrets_max_age_seconds: int = Field(default=300, alias="SECRETS_MAX_AGE_SECONDS", ge=0)

    @field_validator("skipcall_api_url")
    @classmethod
    def _https_unless_loopback(cls, value: str) -> str:
        # The API key travels in every request: plain HTTP only to this machine (the sandbox).
        parts = urlsplit(value)
        if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
            raise ValueError("must be https:// (http:// only for a loopback host)")
        return value

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        # SAM passes unset parameters as empty strings: treat them as absent.
        present = {key: value for key, value in env.items() if value != ""}
        try:
            return cls.model_validate(present)
        except ValidationError as exc:
            problems = "; ".join(
                f"{_env_name(error['loc'])}: {error['msg']}" for error in exc.errors()
            )
            raise ConfigurationError(f"invalid environment: {problems}") from None


def _env_name(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "?"
    field = Settings.model_fields.get(name)
    return field.alias if field is not None and field.alias else name


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
