"""Secrets from Secrets Manager, cached per container.

One GetSecretValue call per secret and max age, through the shared botocore session; the cache
is a dict and a monotonic clock, so a warm delivery's two reads (its source's secret, the API
key) cost a lookup each. (Powertools parameters would add a second cache behind this one, and
its import loads boto3 and its AppConfig provider: about 25 ms of every cold start.)

SecretString formats:
- the Skipcall API key: the key itself, or JSON `{"apiKey": "..."}`;
- a signing secret: the secret itself, or a JSON array of secrets during a rotation.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from typing import TYPE_CHECKING, cast

from skipcall_bridge.aws.config import AwsClients, aws_client
from skipcall_bridge.common.errors import ConfigurationError, Unavailable
from skipcall_bridge.common.observability import logger

if TYPE_CHECKING:  # botocore loads on first use, not on cold start
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from skipcall_bridge.common.budget import CallWindow


class SecretsManagerStore:
    def __init__(
        self,
        api_key_secret_id: str,
        max_age_seconds: int,
        region: str | None = None,
        window: CallWindow | None = None,
    ) -> None:
        self._api_key_secret_id = api_key_secret_id
        self._max_age = max_age_seconds
        self._clients = AwsClients("secretsmanager", region, window)
        self._cache: dict[str, tuple[float, str]] = {}  # secret id -> (read at, SecretString)
        # A delivery's events start on several threads at once: one reads, the others wait
        # for its answer instead of each calling GetSecretValue.
        self._reading = threading.Lock()

    def api_key(self, refresh: bool = False) -> str:
        return parse_api_key(self._read(self._api_key_secret_id, refresh))

    def signing_secrets(self, secret_id: str) -> tuple[str, ...]:
        return parse_signing_secrets(self._read(secret_id, refresh=False))

    def prepare(self, seconds: float | None = None) -> None:
        """Build the Secrets Manager client a delivery of `seconds` starts with, reading
        nothing (SnapStart's snapshot)."""
        self._clients.prepare(seconds)

    def forget(self) -> None:
        """Drop every cached secret: a restored container reads them afresh."""
        self._cache.clear()

    def replace(self, secret_id: str, value: str) -> None:
        """A new value for a signing secret (a REST hook's, taken in its handshake); this
        container reads it from now on. Raises Unavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._secrets_manager().put_secret_value(SecretId=secret_id, SecretString=value)
        except (BotoCoreError, ClientError) as exc:
            logger.error("Secret not stored", extra={"error": type(exc).__name__})
            raise Unavailable("The secret could not be stored; retry later.") from None
        with self._reading:
            self._cache.pop(secret_id, None)

    def _read(self, secret_id: str, refresh: bool) -> str:
        cached = self._fresh(secret_id, refresh)
        if cached is not None:
            return cached
        with self._reading:
            cached = self._fresh(secret_id, refresh)
            if cached is not None:  # read by another thread while this one waited
                return cached
            now = time.monotonic()
            value = self._fetch(secret_id)
            self._cache[secret_id] = (now, value)
            return value

    def _fresh(self, secret_id: str, refresh: bool) -> str | None:
        cached = self._cache.get(secret_id)
        if cached is not None and not refresh and time.monotonic() - cached[0] < self._max_age:
            return cached[1]
        return None

    def _fetch(self, secret_id: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._secrets_manager().get_secret_value(SecretId=secret_id)
        except (BotoCoreError, ClientError) as exc:
            logger.error(
                "Secret could not be read",
                extra={"secretId": secret_id, "error": _error_name(exc)},
            )
            raise Unavailable("A secret the receiver needs cannot be read right now.") from None
        value = answer.get("SecretString")
        if not isinstance(value, str):
            raise ConfigurationError(f"secret {secret_id} has no SecretString")
        return value

    def _secrets_manager(self) -> SecretsManagerClient:
        return cast("SecretsManagerClient", self._clients.now())


def _error_name(exc: Exception) -> str:
    """The AWS error code (AccessDeniedException, ResourceNotFoundException...) or the class."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code if isinstance(code, str) and code else type(exc).__name__


# The cache keeps the SecretString; parsing the same string again on every delivery is waste.
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


def read_secret(secret_id: str, region: str | None) -> str:
    """One secret's SecretString, for an operator's check (no cache). Raises
    ConfigurationError saying what is wrong: missing, not readable, or not a string."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = aws_client("secretsmanager", region).get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = _error_name(exc)
        if code == "ResourceNotFoundException":
            raise ConfigurationError("no such secret, or it has no value yet") from None
        raise ConfigurationError(f"cannot be read ({code})") from None
    except BotoCoreError as exc:
        raise ConfigurationError(f"cannot be read ({type(exc).__name__})") from None
    value = answer.get("SecretString")
    if not isinstance(value, str):
        raise ConfigurationError("it has no SecretString (a binary secret)")
    return value
