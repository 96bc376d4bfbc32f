from __future__ import annotations

import pytest

from skipcall_bridge.aws.secrets import parse_api_key, parse_signing_secrets
from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.settings import DEFAULT_SOURCES_PATH, Settings

REQUIRED = {"SKIPCALL_API_KEY_SECRET_ID": "key", "DEAD_LETTER_QUEUE_URL": "https://sqs/q"}


@pytest.mark.parametrize(
    ("secret", "key"),
    [("sk_live_abc", "sk_live_abc"), (' {"apiKey": "sk_test_x"} ', "sk_test_x")],
)
def test_api_key_formats(secret: str, key: str) -> None:
    assert parse_api_key(secret) == key


@pytest.mark.parametrize("secret", ["", "{}", '{"apiKey": 5}', "{not json"])
def test_bad_api_key_secrets_are_configuration_errors(secret: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_api_key(secret)


def test_signing_secret_formats() -> None:
    assert parse_signing_secrets("s1") == ("s1",)
    assert parse_signing_secrets('["old", "new"]') == ("old", "new")


@pytest.mark.parametrize("secret", ["", "[]", '["ok", 3]', '[""]', "[broken"])
def test_bad_signing_secrets_are_configuration_errors(secret: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_signing_secrets(secret)


def test_settings_defaults() -> None:
    settings = Settings.from_environ(REQUIRED)
    assert settings.skipcall_api_url == "https://api-public.skipcall.app"
    assert settings.sources_config == DEFAULT_SOURCES_PATH
    assert settings.max_body_bytes == 256 * 1024
    assert settings.public_base_url is None
    assert settings.idempotency_table is None


def test_empty_variables_count_as_unset() -> None:
    settings = Settings.from_environ({**REQUIRED, "PUBLIC_BASE_URL": "", "SKIPCALL_API_URL": ""})
    assert settings.public_base_url is None
    assert settings.skipcall_api_url == "https://api-public.skipcall.app"


def test_missing_variables_are_named() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_environ({})
    assert "SKIPCALL_API_KEY_SECRET_ID" in str(caught.value)
    assert "DEAD_LETTER_QUEUE_URL" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PUBLIC_BASE_URL", "hooks.example.com"),
        ("SKIPCALL_API_URL", "ftp://x"),
        ("SKIPCALL_API_URL", "http://api-public.skipcall.app"),  # the key would travel in clear
        ("SKIPCALL_API_URL", "http://10.0.0.8:4010"),
        ("MAX_BODY_BYTES", "0"),
        ("MAX_BODY_BYTES", str(760 * 1024 + 1)),  # its letter could not fit one SQS message
    ],
)
def test_invalid_values_are_named(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_environ({**REQUIRED, name: value})


@pytest.mark.parametrize(
    "url", ["https://api-public.skipcall.app", "http://127.0.0.1:4010", "http://localhost:4010",
            "http://[::1]:4010"],
)  # fmt: skip
def test_plain_http_only_to_this_machine(url: str) -> None:
    assert Settings.from_environ({**REQUIRED, "SKIPCALL_API_URL": url}).skipcall_api_url == url
