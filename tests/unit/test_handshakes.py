"""Handshakes, pure: what is recognised as one, and what each answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from skipcall_bridge.common.errors import InvalidSignature, RouteNotFound, Unavailable
from skipcall_bridge.common.observability import metrics
from skipcall_bridge.receive.handshakes import (
    HandshakeAnswer,
    answer_get,
    echo_challenge,
    hook_secret,
    verify_token,
)
from skipcall_bridge.receive.pipeline import Pipeline
from skipcall_bridge.receive.responses import handshake_response
from skipcall_bridge.sources.catalog import Source, SourceCatalog
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.verify import Headers, SignedRequest

from .fakes import RecordingDeadLetters, ScriptedSkipcall, StaticSecrets

TOKEN = "verify-token-0123456789abcdef"


class Secrets:
    def signing_secrets(self, secret_id: str) -> list[str]:
        assert secret_id == "vt"
        return ["an-older-token-0123456789", TOKEN]


def source(handshake: dict[str, Any]) -> Source:
    config = {"sources": {"s": {
        "auth": {"scheme": "bearer", "secretId": "b"}, "handshake": handshake,
        "sequence": {"name": "n", "creatorId": "c", "assignedToIds": ["c"]},
    }}}  # fmt: skip
    found = SourceCatalog.from_config(parse_sources(json.dumps(config))).get("s")
    assert found is not None
    return found


ECHO = source({"type": "echo-challenge"})


@pytest.mark.parametrize(
    "body",
    [
        b'{"challenge": "abc", "event": {}}',  # anything else: an ordinary delivery
        b'{"challenge": 12}',
        b'{"challenge": ""}',
        b'["challenge"]',
        b"challenge=abc",
        json.dumps({"challenge": "x" * 513}).encode(),
        # reflected as a header or text: CR/LF and markup would be a foothold (#22 finding 10)
        json.dumps({"challenge": "abc\r\nSet-Cookie: pwn=1"}).encode(),
        json.dumps({"challenge": "<script>alert(1)</script>"}).encode(),
        json.dumps({"challenge": "a b"}).encode(),
    ],
)
def test_only_a_body_that_is_just_the_challenge_is_a_handshake(body: bytes) -> None:
    assert echo_challenge(ECHO, body) is None


def test_the_challenge_is_answered_as_the_sender_expects() -> None:
    answer = echo_challenge(ECHO, b'{"challenge": "abc"}')
    assert answer == HandshakeAnswer("json", "challenge", "abc")
    response = handshake_response(answer)
    assert (response.status_code, response.body) == (200, {"challenge": "abc"})
    as_text = source({"type": "echo-challenge", "field": "token", "answer": "text"})
    text = handshake_response(echo_challenge(as_text, b'{"token": "t1"}'))  # type: ignore[arg-type]
    assert (text.status_code, text.body, text.content_type) == (200, "t1", "text/plain")
    assert text.headers["X-Content-Type-Options"] == "nosniff"
    as_header = source({"type": "echo-challenge", "answer": "header", "header": "X-Challenge"})
    header = handshake_response(echo_challenge(as_header, b'{"challenge": "h"}'))  # type: ignore[arg-type]
    assert header.headers["X-Challenge"] == "h"
    loose = source({"type": "echo-challenge", "otherFields": True})
    assert echo_challenge(loose, b'{"challenge": "c", "type": "url_verification"}') is not None


def test_a_header_answer_needs_its_header_named() -> None:
    from skipcall_bridge.common.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="go together"):
        source({"type": "echo-challenge", "answer": "header"})


VERIFY = source({"type": "verify-token", "secretId": "vt"})
QUERY = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": TOKEN}


def test_the_right_token_gets_the_challenge() -> None:
    assert verify_token(VERIFY, QUERY, Secrets()) == HandshakeAnswer(
        "text", "hub.challenge", "1158201444"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"hub.verify_token": "wrong"},
        {"hub.verify_token": ""},
        {"hub.mode": "unsubscribe"},
        {"hub.challenge": ""},
        {"hub.challenge": "c" * 513},
        {"hub.challenge": "<img src=x onerror=alert(1)>"},
        {"hub.challenge": "1\r\nSet-Cookie: pwn=1"},
    ],
)
def test_anything_else_is_refused(change: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature):
        verify_token(VERIFY, {**QUERY, **change}, Secrets())


def test_a_verify_token_too_short_to_authenticate_anyone_is_refused() -> None:
    """#22 finding 13: a one-letter token would be found by the first few guesses."""
    from skipcall_bridge.common.errors import ConfigurationError

    class Short:
        def signing_secrets(self, secret_id: str) -> list[str]:
            return ["a"]

    with pytest.raises(ConfigurationError, match="at least 16"):
        verify_token(VERIFY, {**QUERY, "hub.verify_token": "a"}, Short())


def test_a_source_without_the_handshake_has_no_get() -> None:
    with pytest.raises(RouteNotFound):
        verify_token(ECHO, QUERY, Secrets())
    with pytest.raises(RouteNotFound):
        verify_token(None, QUERY, Secrets())


MAILCHIMP_KEY = "mailchimp-key-0123456789abcdef"


class KeySecrets:
    def signing_secrets(self, secret_id: str) -> list[str]:
        assert secret_id == "mc"
        return [MAILCHIMP_KEY]


def test_a_reachability_get_is_answered_only_with_the_source_s_key() -> None:
    """Mailchimp GETs the URL before saving it: 200 with the key in the URL, 401 without."""
    config = {"sources": {"mailchimp": {
        "auth": {"scheme": "query-key", "secretId": "mc", "parameter": "key"},
        "bodyFormat": "form", "handshake": {"type": "reachability"},
        "sequence": {"name": "n", "creatorId": "c", "assignedToIds": ["c"]},
    }}}  # fmt: skip
    mailchimp = SourceCatalog.from_config(parse_sources(json.dumps(config))).get("mailchimp")
    url = "https://hooks.example.com/webhooks/mailchimp"
    good = SignedRequest("GET", f"{url}?key={MAILCHIMP_KEY}", b"")
    answer = answer_get(mailchimp, good, {"key": MAILCHIMP_KEY}, KeySecrets(), 0.0)
    assert handshake_response(answer).body == {"status": "ok"}
    for query in ("", "?key=wrong-key-0123456789abcdef"):
        with pytest.raises(InvalidSignature):
            answer_get(mailchimp, SignedRequest("GET", url + query, b""), {}, KeySecrets(), 0.0)
    with pytest.raises(RouteNotFound):  # a source without a GET handshake
        answer_get(ECHO, good, {}, KeySecrets(), 0.0)


def test_a_get_probe_with_a_wrong_key_counts_as_a_rejected_signature() -> None:
    """Security review, finding 9: refused GET handshakes were not in SignatureRejected, so
    someone guessing a verify token or a query key never showed on its alarm."""
    config = {"sources": {"mailchimp": {
        "auth": {"scheme": "query-key", "secretId": "mc", "parameter": "key"},
        "bodyFormat": "form", "handshake": {"type": "reachability"},
        "sequence": {"name": "n", "creatorId": "c", "assignedToIds": ["c"]},
    }}}  # fmt: skip
    catalog = SourceCatalog.from_config(parse_sources(json.dumps(config)))
    pipeline = Pipeline(
        catalog,
        StaticSecrets({"mc": [MAILCHIMP_KEY]}),
        ScriptedSkipcall(),
        RecordingDeadLetters(),
        max_body_bytes=1024,
    )
    url = "https://hooks.example.com/webhooks/mailchimp?key=wrong-key-0123456789abcdef"
    metrics.clear_metrics()
    with pytest.raises(InvalidSignature):
        pipeline.verify_subscription("mailchimp", SignedRequest("GET", url, b""), {})
    assert metrics.provider.metric_set["SignatureRejected"]["Value"] == [1.0]
    metrics.clear_metrics()


# -- REST hooks: X-Hook-Secret (#29 item 3) ---------------------------------------------------


class Keeper:
    """The window and the secret store as DynamoDB and Secrets Manager behave: one taker of an
    open window; a store that may be down."""

    def __init__(self, armed_until: float | None = None, *, store_down: bool = False) -> None:
        self.armed_until = armed_until
        self.kept: list[tuple[str, str]] = []
        self.store_down = store_down

    def arm(self, source: str, until: float) -> None:
        self.armed_until = until

    def disarm(self, source: str, now: float) -> float | None:
        until, self.armed_until = self.armed_until, None
        if until is None or until < now:
            return None
        return until

    def keep(self, secret_id: str, secret: str) -> None:
        if self.store_down:
            raise Unavailable("down")
        self.kept.append((secret_id, secret))


KEEPS = source({"type": "hook-secret", "keep": True})
REFUSES = source({"type": "hook-secret", "keep": True, "otherwise": "refuse"})
ECHOES = source({"type": "hook-secret"})


def hook(value: str | None, body: bytes = b"") -> SignedRequest:
    headers = {} if value is None else {"X-Hook-Secret": value}
    return SignedRequest("POST", "https://h/webhooks/s", body, Headers(headers))


def test_a_hook_secret_is_echoed_in_its_header_and_kept_only_while_armed() -> None:
    keeper = Keeper(armed_until=1_000.0)
    answer = hook_secret(KEEPS, hook("4f1c0ffee5ecret"), keeper, now=900.0)
    assert answer == HandshakeAnswer("header", "X-Hook-Secret", "4f1c0ffee5ecret", "X-Hook-Secret")
    assert keeper.kept == [("b", "4f1c0ffee5ecret")]  # the source's secretId
    assert keeper.armed_until is None  # the first one closed the window
    again = hook_secret(KEEPS, hook("an0ther5ecret"), keeper, now=901.0)
    assert again is not None  # echoed (the sender completes its subscription)...
    assert keeper.kept == [("b", "4f1c0ffee5ecret")]  # ...but not kept
    late = Keeper(armed_until=800.0)  # the window closed before the handshake came
    assert hook_secret(KEEPS, hook("late5ecret"), late, now=900.0) is not None
    assert late.kept == []
    response = handshake_response(answer)
    assert response.headers["X-Hook-Secret"] == "4f1c0ffee5ecret"


def test_a_hook_secret_is_refused_when_not_armed_if_the_source_says_so() -> None:
    with pytest.raises(InvalidSignature):
        hook_secret(REFUSES, hook("4f1c0ffee5ecret"), Keeper(), now=900.0)
    keeper = Keeper(armed_until=1_000.0)
    assert hook_secret(REFUSES, hook("4f1c0ffee5ecret"), keeper, now=900.0) is not None
    assert keeper.kept == [("b", "4f1c0ffee5ecret")]


def test_an_echo_only_hook_never_keeps_and_an_ordinary_delivery_is_no_handshake() -> None:
    keeper = Keeper(armed_until=1_000.0)
    assert hook_secret(ECHOES, hook("4f1c0ffee5ecret"), keeper, now=900.0) is not None
    assert keeper.kept == []
    assert keeper.armed_until == 1_000.0  # untouched
    assert hook_secret(KEEPS, hook(None, b'{"events": []}'), keeper, now=900.0) is None
    for bad in ("a b", "x\r\nSet-Cookie: a=1", "<b>", "x" * 513, ""):
        with pytest.raises(InvalidSignature):
            hook_secret(KEEPS, hook(bad), keeper, now=900.0)
    assert keeper.kept == []


def test_a_secret_that_cannot_be_stored_reopens_the_window_for_the_sender_s_retry() -> None:
    from skipcall_bridge.common.errors import Unavailable

    keeper = Keeper(armed_until=1_000.0, store_down=True)
    with pytest.raises(Unavailable):
        hook_secret(KEEPS, hook("4f1c0ffee5ecret"), keeper, now=900.0)
    assert keeper.armed_until == 1_000.0
    keeper.store_down = False
    assert hook_secret(KEEPS, hook("4f1c0ffee5ecret"), keeper, now=901.0) is not None
    assert keeper.kept == [("b", "4f1c0ffee5ecret")]
