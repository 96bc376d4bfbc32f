"""Verifiers: published test vectors, malformed input, and tamper properties (hypothesis)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skipcall_bridge.aws.secrets import parse_signing_secrets
from skipcall_bridge.common.errors import ConfigurationError, InvalidSignature
from skipcall_bridge.verify import Headers, SignedRequest
from skipcall_bridge.verify.bearer import BearerVerifier
from skipcall_bridge.verify.close import CloseVerifier
from skipcall_bridge.verify.hmac_sha256 import HmacSha256Verifier
from skipcall_bridge.verify.hubspot import HubSpotVerifier
from skipcall_bridge.verify.registry import build_verifier
from skipcall_bridge.verify.schemes import BearerAuth, HmacSha256Auth, StandardWebhooksAuth
from skipcall_bridge.verify.standard_webhooks import StandardWebhooksVerifier

URL = "https://hooks.example.com/webhooks/test"

# Standard Webhooks spec test vector (webhook-signatures.md section 8).
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TS = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def request(body: bytes, headers: dict[str, str]) -> SignedRequest:
    return SignedRequest(method="POST", url=URL, body=body, headers=Headers(headers))


def sw_headers(prefix: str = "webhook", signature: str = SW_SIGNATURE, ts: str = str(SW_TS)):
    return {f"{prefix}-id": SW_ID, f"{prefix}-timestamp": ts, f"{prefix}-signature": signature}


class TestStandardWebhooks:
    verifier = StandardWebhooksVerifier(tolerance_seconds=300)

    def test_published_vector_verifies(self) -> None:
        self.verifier.verify(request(SW_BODY, sw_headers()), [SW_SECRET], now=SW_TS)

    def test_svix_header_names_are_accepted(self) -> None:
        self.verifier.verify(request(SW_BODY, sw_headers("svix")), [SW_SECRET], now=SW_TS)

    def test_header_names_are_case_insensitive(self) -> None:
        headers = {name.upper(): value for name, value in sw_headers().items()}
        self.verifier.verify(request(SW_BODY, headers), [SW_SECRET], now=SW_TS)

    def test_sign_reproduces_the_vector(self) -> None:
        content_headers = self.verifier.sign(SW_BODY, SW_SECRET, SW_TS, method="POST", url=URL)
        self.verifier.verify(request(SW_BODY, content_headers), [SW_SECRET], now=SW_TS)

    @pytest.mark.parametrize("skew", [301, -301, 10_000])
    def test_stale_or_future_timestamps_are_refused(self, skew: int) -> None:
        with pytest.raises(InvalidSignature):
            self.verifier.verify(request(SW_BODY, sw_headers()), [SW_SECRET], now=SW_TS + skew)

    @pytest.mark.parametrize("skew", [300, -300, 0])
    def test_timestamps_within_five_minutes_either_way_pass(self, skew: int) -> None:
        self.verifier.verify(request(SW_BODY, sw_headers()), [SW_SECRET], now=SW_TS + skew)

    def test_any_matching_entry_and_any_secret_pass_during_rotation(self) -> None:
        headers = sw_headers(signature=f"v1,AAAA v2,whatever {SW_SIGNATURE}")
        other = "whsec_" + base64.b64encode(b"x" * 24).decode()
        self.verifier.verify(request(SW_BODY, headers), [other, SW_SECRET], now=SW_TS)

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            sw_headers(ts="16142653.30"),
            sw_headers(ts="-1614265330"),
            sw_headers(ts="١٦١٤٢٦٥٣٣٠"),  # non-ASCII digits
            sw_headers(signature="v2," + SW_SIGNATURE[3:]),
            sw_headers(signature="v1,"),
            sw_headers(signature="garbage"),
            {k: v for k, v in sw_headers().items() if k != "webhook-id"},
        ],
    )
    def test_malformed_headers_are_refused(self, headers: dict[str, str]) -> None:
        with pytest.raises(InvalidSignature):
            self.verifier.verify(request(SW_BODY, headers), [SW_SECRET], now=SW_TS)

    def test_a_malformed_secret_is_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError):
            self.verifier.verify(request(SW_BODY, sw_headers()), ["whsec_%%%"], now=SW_TS)


class TestHmacSha256:
    # GitHub's documented vector (webhook-signatures.md section 9).
    github = HmacSha256Verifier("X-Hub-Signature-256", encoding="hex", prefix="sha256=")
    github_secret = "It's a Secret to Everybody"
    github_signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    def test_github_vector_verifies(self) -> None:
        headers = {"x-hub-signature-256": self.github_signature}
        self.github.verify(request(b"Hello, World!", headers), [self.github_secret], now=0)

    def test_sign_reproduces_github_vector(self) -> None:
        signed = self.github.sign(b"Hello, World!", self.github_secret, 0, method="POST", url=URL)
        assert signed == {"X-Hub-Signature-256": self.github_signature}

    def test_uppercase_hex_is_accepted(self) -> None:
        headers = {"X-Hub-Signature-256": "sha256=" + self.github_signature[7:].upper()}
        self.github.verify(request(b"Hello, World!", headers), [self.github_secret], now=0)

    @pytest.mark.parametrize(
        "value",
        [
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",  # no prefix
            "sha256=zz",
            "sha256=",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ],
    )
    def test_malformed_signatures_are_refused(self, value: str) -> None:
        with pytest.raises(InvalidSignature):
            self.github.verify(
                request(b"Hello, World!", {"x-hub-signature-256": value}),
                [self.github_secret],
                now=0,
            )

    def test_base64_encoding(self) -> None:
        verifier = HmacSha256Verifier("X-Signature", encoding="base64")
        headers = verifier.sign(b"{}", "s3cret-long-enough-key", 0, method="POST", url=URL)
        verifier.verify(request(b"{}", headers), ["s3cret-long-enough-key"], now=0)
        with pytest.raises(InvalidSignature):
            verifier.verify(
                request(b"{}", {"x-signature": "not base64!"}), ["s3cret-long-enough-key"], now=0
            )


class TestBearer:
    verifier = BearerVerifier()

    @pytest.mark.parametrize(
        "headers",
        [
            {"Authorization": "Bearer tok-0123456789abcdef"},
            {"authorization": "bearer tok-0123456789abcdef"},
            {"X-Api-Key": "tok-0123456789abcdef"},
            {"Authorization": "Basic dG9rOg==", "x-api-key": "tok-0123456789abcdef"},
        ],
    )
    def test_accepted_forms(self, headers: dict[str, str]) -> None:
        self.verifier.verify(
            request(b"{}", headers), ["old-0123456789abcdef", "tok-0123456789abcdef"], now=0
        )

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer tok-0123456789abcde"},
            {"X-Api-Key": ""},
        ],
    )
    def test_refused_forms(self, headers: dict[str, str]) -> None:
        with pytest.raises(InvalidSignature):
            self.verifier.verify(request(b"{}", headers), ["tok-0123456789abcdef"], now=0)

    @pytest.mark.parametrize("secret", ["a", "short-token", "x" * 15])
    def test_a_secret_too_short_to_authenticate_anyone_is_refused(self, secret: str) -> None:
        """#22 finding 13: even the right token is refused; the source is misconfigured."""
        with pytest.raises(ConfigurationError, match="at least 16"):
            self.verifier.verify(request(b"{}", {"X-Api-Key": secret}), [secret], now=0)


def test_build_verifier_follows_the_scheme() -> None:
    assert isinstance(build_verifier(BearerAuth(scheme="bearer", secretId="s")), BearerVerifier)
    hmac_auth = HmacSha256Auth(scheme="hmac-sha256", secretId="s", encoding="base64")
    assert isinstance(build_verifier(hmac_auth), HmacSha256Verifier)
    sw_auth = StandardWebhooksAuth(scheme="standard-webhooks", secretId="s")
    assert isinstance(build_verifier(sw_auth), StandardWebhooksVerifier)


# --- Properties: a signature never verifies after any byte of body, timestamp or secret changes.

bodies = st.binary(min_size=1, max_size=512)
secrets = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=16)
sw_secrets = st.binary(min_size=24, max_size=64).map(
    lambda raw: "whsec_" + base64.b64encode(raw).decode()
)
timestamps = st.integers(min_value=1_000_000_000, max_value=4_000_000_000)
HMAC_VERIFIERS = [
    HmacSha256Verifier("X-Signature", "hex"),
    HmacSha256Verifier("X-Signature", "base64", "sha256="),
]


def flip(data: bytes, index: int, mask: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


@given(body=bodies, secret=secrets, index=st.integers(min_value=0), mask=st.integers(1, 255))
def test_hmac_signature_breaks_when_any_body_byte_changes(
    body: bytes, secret: str, index: int, mask: int
) -> None:
    for verifier in HMAC_VERIFIERS:
        headers = verifier.sign(body, secret, 0, method="POST", url=URL)
        verifier.verify(request(body, headers), [secret], now=0)
        with pytest.raises(InvalidSignature):
            verifier.verify(request(flip(body, index, mask), headers), [secret], now=0)


@given(body=bodies, secret=secrets, other=secrets)
def test_hmac_signature_breaks_with_another_secret(body: bytes, secret: str, other: str) -> None:
    if other == secret:
        return
    for verifier in HMAC_VERIFIERS:
        headers = verifier.sign(body, secret, 0, method="POST", url=URL)
        with pytest.raises(InvalidSignature):
            verifier.verify(request(body, headers), [other], now=0)


@given(
    body=bodies,
    secret=sw_secrets,
    other=sw_secrets,
    ts=timestamps,
    index=st.integers(min_value=0),
    mask=st.integers(1, 255),
    shift=st.integers(min_value=1, max_value=299),
)
def test_standard_webhooks_signature_breaks_on_any_change(
    body: bytes, secret: str, other: str, ts: int, index: int, mask: int, shift: int
) -> None:
    verifier = StandardWebhooksVerifier(tolerance_seconds=300)
    headers = verifier.sign(body, secret, ts, method="POST", url=URL)
    verifier.verify(request(body, headers), [secret], now=ts)
    with pytest.raises(InvalidSignature):
        verifier.verify(request(flip(body, index, mask), headers), [secret], now=ts)
    moved = {**headers, "webhook-timestamp": str(ts + shift)}  # still fresh, but not signed
    with pytest.raises(InvalidSignature):
        verifier.verify(request(body, moved), [secret], now=ts)
    if other != secret:
        with pytest.raises(InvalidSignature):
            verifier.verify(request(body, headers), [other], now=ts)


class TestKeysThatAuthenticateNobody:
    """An empty or short key is a configuration error (503 and a log line): never a signature
    that anyone holding the same empty key could produce."""

    @pytest.mark.parametrize(
        ("verifier", "strong", "secret"),
        [
            (
                HmacSha256Verifier("X-Signature", encoding="hex"),
                "0123456789abcdef",
                "short-15-bytes!",
            ),
            (StandardWebhooksVerifier(300), SW_SECRET, "whsec_"),
            (StandardWebhooksVerifier(300), SW_SECRET, "whsec_AAAA"),  # 3 bytes once decoded
            (CloseVerifier(300), "ab" * 16, "00"),  # hex that decodes to one byte
            (HubSpotVerifier(["v3"], 300), "0123456789abcdef", "short"),
            (HubSpotVerifier(["v1"], 300), "0123456789abcdef", "short"),
        ],
    )
    def test_short_keys_are_refused(self, verifier: Any, strong: str, secret: str) -> None:
        headers = verifier.sign(b"{}", strong, 0, method="POST", url=URL)
        with pytest.raises(ConfigurationError):
            verifier.verify(request(b"{}", headers), [secret], now=0)

    @pytest.mark.parametrize("secret_string", ['[" "]', '["ok-secret-1234567890", ""]', "[]"])
    def test_blank_entries_in_a_rotation_array_are_refused(self, secret_string: str) -> None:
        with pytest.raises(ConfigurationError):
            parse_signing_secrets(secret_string)
