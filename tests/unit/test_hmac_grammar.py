"""The declarative HMAC grammar: each new preset against a vector computed independently
(OpenSSL's `dgst -hmac`, not Python's hmac), its timestamps both ways, its rotations, what a bad
grammar says at load, and forgeries of every kind refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from skipcall_bridge.common.errors import ConfigurationError, InvalidSignature
from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.verify import Headers, SignedRequest
from skipcall_bridge.verify.base import Verifier

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_sources(ROOT / "sources.example.json")
SECRET = "whsec_test_secret_for_vectors_01"
BODY = b'{"event":"invitee.created","payload":{"email":"a@b.example"}}'
T = 1795660800
# printf '%s' "$T.$BODY" | openssl dgst -sha256 -hmac "$SECRET" -r, and so on (see each test).
V1_OVER_T_DOT_BODY = "bc583598059fe8d64d47e49fc446c9970d3496da53d7aa92b479811a740a9d5d"
SHA256_BASE64_OF_BODY = "O7xIOw9aqtxmiA+VvQPryz/xr2J3wkMug7nQF57lnxQ="
SHA1_HEX_OF_BODY = "efa79e92d64cc3e33a21cc6e6114000cf2716a8f"
SHA512_HEX_OF_BODY = (
    "b0c19f06432825d24b7094ff02aa65476ab8f3de17e6bb7e6859cf44c82cb6b3e37ec1e6945ab8fe56d15ecd"
    "56c9b5e8155738b333832537f9a31789487c85a2"
)
VECTORS = {
    "calendly": {"Calendly-Webhook-Signature": f"t={T},v1={V1_OVER_T_DOT_BODY}"},
    "stripe-style": {"Stripe-Signature": f"t={T},v1={V1_OVER_T_DOT_BODY},v0=00"},
    "typeform": {"Typeform-Signature": f"sha256={SHA256_BASE64_OF_BODY}"},
    "intercom": {"X-Hub-Signature": f"sha1={SHA1_HEX_OF_BODY}"},
}


def verifier(name: str) -> Verifier:
    source = CATALOG.get(name)
    assert source is not None
    return source.verifier


def check(name: str, headers: dict[str, str], body: bytes = BODY, now: float = T) -> None:
    request = SignedRequest("POST", "https://hooks.example.com/webhooks/x", body, Headers(headers))
    verifier(name).verify(request, [SECRET], now)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_each_new_preset_verifies_its_independent_vector(name: str) -> None:
    check(name, VECTORS[name])


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_sign_sends_what_the_vector_holds(name: str) -> None:
    headers = verifier(name).sign(BODY, SECRET, T, method="POST", url="")
    check(name, headers)
    for header, value in VECTORS[name].items():
        expected = value.removesuffix(",v0=00")
        assert headers[header] == expected


def test_sha512_and_a_header_timestamp_in_milliseconds() -> None:
    config = {"sources": {"x": {
        "auth": {"scheme": "hmac", "secretId": "s", "algorithm": "sha512",
                 "signature": {"header": "X-Sig"}},
        "sequence": {"name": "n", "creatorId": "c", "assignedToIds": ["c"]},
    }}}  # fmt: skip
    source = load_sources_text(config).get("x")
    assert source is not None
    request = SignedRequest("POST", "", BODY, Headers({"X-Sig": SHA512_HEX_OF_BODY}))
    source.verifier.verify(request, [SECRET], 0)


@pytest.mark.parametrize("skew", [-181, 181, -3600])
def test_calendly_refuses_a_timestamp_three_minutes_off(skew: int) -> None:
    with pytest.raises(InvalidSignature):
        check("calendly", VECTORS["calendly"], now=T + skew)


def test_stripe_style_accepts_any_listed_v1_during_a_rotation() -> None:
    header = f"t={T},v1={'0' * 64},v1={V1_OVER_T_DOT_BODY}"
    check("stripe-style", {"Stripe-Signature": header})
    with pytest.raises(InvalidSignature):  # more items than any rotation: refused, not scanned
        check("stripe-style", {"Stripe-Signature": header + ",v1=00" * 20})


def test_in_a_signature_list_the_first_timestamp_wins_as_stripe_reads_it() -> None:
    """#22 finding 4: a second `t=` never replaces the signed one (Stripe's library takes the
    first), so a captured signature cannot be carried to a fresh timestamp by appending it."""
    later = T + 100
    check("stripe-style", {"Stripe-Signature": f"t={T},t={later},v1={V1_OVER_T_DOT_BODY}"})
    with pytest.raises(InvalidSignature):
        check(
            "stripe-style",
            {"Stripe-Signature": f"t={later},t={T},v1={V1_OVER_T_DOT_BODY}"},
            now=later,
        )


@pytest.mark.parametrize(
    ("auth", "words"),
    [
        ({"signature": {"header": "X"}, "signed": "{timestamp}"}, "must contain {body}"),
        ({"signature": {"header": "X"}, "signed": "{body}{body}"}, "exactly once"),
        ({"signature": {"header": "X"}, "signed": "{body}.{nonce}"}, "unknown placeholder {nonce}"),
        ({"signature": {"header": "X"}, "signed": "{timestamp}.{body}"}, "add `timestamp`"),
        ({"signature": {"header": "X"}, "timestamp": {"header": "T"}}, "not signed"),
        ({"signature": {"header": "X"}, "signed": "{id}{body}"}, "add `idHeader`"),
        ({"signature": {"header": "X"}, "signed": "{timestamp}{body}",
          "timestamp": {"listKey": "t"}}, "needs signature.format list"),
        ({"signature": {"header": "X", "format": "list", "prefix": "v1="}}, "prefix applies"),
        ({"signature": {"header": "X"}, "algorithm": "md5"}, "algorithm"),
        ({"signature": {"header": "X"}, "timestamp": {"header": "T", "listKey": "t"},
          "signed": "{timestamp}{body}"}, "exactly one of header, listKey and bodyField"),
    ],
)  # fmt: skip
def test_a_bad_grammar_is_a_load_error_naming_the_field(auth: dict[str, Any], words: str) -> None:
    config = {"sources": {"x": {
        "auth": {"scheme": "hmac", "secretId": "s", **auth},
        "sequence": {"name": "n", "creatorId": "c", "assignedToIds": ["c"]},
    }}}  # fmt: skip
    with pytest.raises(ConfigurationError) as caught:
        load_sources_text(config)
    assert "sources.x.auth" in str(caught.value)
    assert words in str(caught.value)


def test_a_key_that_is_not_what_the_grammar_says_is_a_configuration_error() -> None:
    close = CATALOG.get("close")
    assert close is not None
    request = SignedRequest("POST", "", BODY, Headers({"close-sig-hash": "00",
                                                       "close-sig-timestamp": str(T)}))  # fmt: skip
    with pytest.raises(ConfigurationError):
        close.verifier.verify(request, ["not hex at all, but long enough"], T)


def load_sources_text(config: dict[str, Any]) -> Any:
    from skipcall_bridge.sources.catalog import SourceCatalog

    return SourceCatalog.from_config(parse_sources(json.dumps(config)))


@given(
    name=st.sampled_from(sorted(VECTORS)),
    index=st.integers(min_value=0),
    mask=st.integers(1, 255),
    part=st.sampled_from(["body", "signature", "header name", "timestamp"]),
)
# an unused bit of the base64 signature's last character, flipped: the same bytes, once
# accepted under that second spelling
@example(name="typeform", index=2_821_906_206_595_906_673_868_915_343_360, mask=2,
         part="signature")  # fmt: skip
def test_forgeries_of_every_kind_are_refused(name: str, index: int, mask: int, part: str) -> None:
    """A changed body byte, signature character, header name or timestamp: never accepted, and
    never anything but InvalidSignature."""
    header, value = next(iter(VECTORS[name].items()))
    value = value.removesuffix(",v0=00")  # an entry the scheme ignores: changing it is no forgery
    headers = {header: value}
    body = BODY
    if part == "body":
        position = index % len(body)
        body = body[:position] + bytes([body[position] ^ mask]) + body[position + 1 :]
    elif part == "signature":
        position = index % len(value)
        flipped = chr((ord(value[position]) ^ (mask & 0x3F)) or 1)
        if flipped.lower() == value[position].lower():
            return  # hex is read in either case: the same signature
        headers[header] = value[:position] + flipped + value[position + 1 :]
    elif part == "header name":
        headers = {f"X-Not-{header}": value}
    else:
        headers[header] = value.replace(f"t={T}", f"t={T + 1 + index % 100}")
    if headers == {header: value} and body == BODY:
        return  # the mutation changed nothing
    with pytest.raises(InvalidSignature):
        check(name, headers, body, now=T + 1)


def test_check_config_warns_of_grammars_that_verify_weakly() -> None:
    """#22 finding 14: without a signed timestamp, with sha1, or signing its own signature
    header, a grammar loads but is weak: check-config and `make package` say so."""
    base = {"scheme": "hmac", "secretId": "s", "signature": {"header": "X-Sig"}}
    weak = {
        "plain": base,
        "old": {**base, "algorithm": "sha1"},
        "self": {**base, "signed": "{header:X-Sig}.{body}"},
        "good": {**base, "signed": "{timestamp}.{body}", "timestamp": {"header": "X-Ts"}},
    }
    config = {
        "sources": {
            name: {"auth": auth, "sequence": {"name": "n", "creatorId": "c", "assignedToIds": "c"}}
            for name, auth in weak.items()
        }
    }
    warnings = load_sources_text(config).warnings()
    assert not [w for w in warnings if w.startswith("good:")]
    assert any(w.startswith("plain: no signed timestamp") for w in warnings)
    assert any(w.startswith("old: algorithm sha1") for w in warnings)
    assert any(w.startswith("self: the signature's own header") for w in warnings)
    clean = CATALOG.warnings()
    assert not [w for w in clean if w.startswith(("stripe-style:", "calendly:"))]
