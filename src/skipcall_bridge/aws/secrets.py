"""Secrets from Secrets Manager through Powertools parameters, cached per container.

Powertools reads, decodes and reports errors; the cache in front of it is a dict and a monotonic
clock, so a warm delivery's two reads (its source's secret, the API key) cost a lookup each.

SecretString formats:
- the Skipcall API key: the key itself, or JSON `{"apiKey": "..."}`;
- a signing secret: the secret itself, or a JSON array of secrets during a rotation.
"""

from __future__ import annotations

import functools
import json
import time
from typing import TYPE_CHECKING

from skipcall_bridge.aws.config import boto3_session, boto_config
from skipcall_bridge.errors import ConfigurationError, Unavailable
from skipcall_bridge.observability import logger

if TYPE_CHECKING:  # boto3 and the parameters utility load on first use, not on cold start
    from aws_lambda_powertools.utilities.parameters import SecretsProvider


class SecretsManagerStore:
    def __init__(
        self, api_key_secret_id: str, max_age_seconds: int, region: str | None = None
    ) -> None:
        self._api_key_secret_id = api_key_secret_id
        self._max_age = max_age_seconds
        self._region = region
        self._provider: SecretsProvider | None = None
        self._cache: dict[str, tuple[float, str]] = {}  # secret id -> (read at, SecretString)

    def api_key(self, refresh: bool = False) -> str:
        return parse_api_key(self._read(self._api_key_secret_id, refresh))

    def signing_secrets(self, secret_id: str) -> tuple[str, ...]:
        return parse_signing_secrets(self._read(secret_id, refresh=False))

    def prepare(self) -> None:
        """Build the Secrets Manager client, reading nothing (SnapStart's snapshot)."""
        self._secrets_provider()

    def forget(self) -> None:
        """Drop every cached secret: a restored container reads them afresh."""
        self._cache.clear()
        if self._provider is not None:
            self._provider.clear_cache()  # type: ignore[no-untyped-call] # untyped in Powertools

    def _read(self, secret_id: str, refresh: bool) -> str:
        now = time.monotonic()
        cached = self._cache.get(secret_id)
        if cached is not None and not refresh and now - cached[0] < self._max_age:
            return cached[1]
        value = self._fetch(secret_id)
        self._cache[secret_id] = (now, value)
        return value

    def _fetch(self, secret_id: str) -> str:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = self._secrets_provider().get(secret_id, force_fetch=True)
        except GetParameterError as exc:
            logger.error(
                "Secret could not be read",
                extra={"secretId": secret_id, "error": type(exc.__cause__ or exc).__name__},
            )
            raise Unavailable("A secret the receiver needs cannot be read right now.") from None
        if isinstance(value, bytes):
            value = value.decode()
        if not isinstance(value, str):
            raise ConfigurationError(f"secret {secret_id} has no SecretString")
        return value

    def _secrets_provider(self) -> SecretsProvider:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._provider = SecretsProvider(
                boto_config=boto_config(self._region), boto3_session=boto3_session()
            )
        return self._provider


# Powertools caches the SecretString; parsing the same string again on every delivery is waste.
@functools.lru_cache(maxsize=64)
def parse_api_key(secret_string: str) -> str:
    text = secret_string.strip()
    if text.startswith("{"):
        try:
            key = json.loads(text).get("apiKey")
        except (ValueError, AttributeError):
            key = None
        if not isinstance(key, str) or not key.strip():
            raise ConfigurationError('the API key secret is JSON without a string "apiKey"')
        return key.strip()
    if not text:
        raise ConfigurationError("the API key secret is empty")
    return text


@functools.lru_cache(maxsize=64)
def parse_signing_secrets(secret_string: str) -> tuple[str, ...]:
    text = secret_string.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            values = None
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(value, str) and value.strip() for value in values)
        ):
            # A blank entry would authenticate nobody, or anybody: refuse the whole secret.
            raise ConfigurationError(
                "a signing secret is JSON but not an array of non-blank strings"
            )
        return tuple(values)
    if not text:
        raise ConfigurationError("a signing secret is empty")
    return (text,)
