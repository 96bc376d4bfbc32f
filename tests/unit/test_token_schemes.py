"""jwt and query-key, and the Meta-style preset: vectors built independently (the JWT assembled
with OpenSSL: base64url of the header and claims, HMAC-SHA256 over `header.claims`), and what
each refuses."""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path

import jwt
import pytest

from skipcall_bridge.common.errors import InvalidSignature
from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge.verify import Headers, SignedRequest
from skipcall_bridge.verify.base import Verifier

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_sources(ROOT / "sources.example.json")
SECRET = "monday-signing-secret-0123456789abcdef"
URL = "https://hooks.example.com/webhooks/monday"
IAT, EXP = 1795660800, 1795661100
# H=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64url); P=... (the claims below);
# S=$(printf '%s' "$H.$P" | openssl dgst -sha256 -hmac "$SECRET" -binary | b64url)
OPENSSL_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2NvdW50SWQiOjE4MjU1MjgsInVzZXJJZCI6NDAxMjY4OSwiY"
    "XVkIjoiaHR0cHM6Ly9ob29rcy5leGFtcGxlLmNvbS93ZWJob29rcy9tb25kYXkiLCJleHAiOjE3OTU2NjExMDAsImlh"
    "dCI6MTc5NTY2MDgwMH0.RgpSbitmZPj3YGyI0zayd1hUr0ddPhkoxoA1xoUF06o"
)
META_BODY = b'{"object":"page","entry":[]}'
META_SIGNATURE = "ea6c644cceefaa7e236f222229a21f12563de4d381d3170df95ce0511da67c21"


def verifier(name: str) -> Verifier:
    source = CATALOG.get(name)
    assert source is not None
    return source.verifier


def monday(token: str, now: float = IAT + 10, url: str = URL) -> None:
    request = SignedRequest("POST", url, b"{}", Headers({"Authorization": token}))
    verifier("monday").verify(request, [SECRET], now)


def forge(claims: dict[str, object], secret: str = SECRET, algorithm: str = "HS256") -> str:
    with warnings.catch_warnings():  # forged with short keys on purpose
        warnings.simplefilter("ignore")
        return jwt.encode(claims, secret, algorithm)


CLAIMS = {"accountId": 1825528, "aud": URL, "exp": EXP, "iat": IAT}


def test_monday_accepts_the_openssl_token_raw_or_as_bearer() -> None:
    monday(OPENSSL_JWT)
    monday(f"Bearer {OPENSSL_JWT}")


@pytest.mark.parametrize(
    ("token", "now", "url"),
    [
        (OPENSSL_JWT, EXP + 31, URL),  # expired (30 s of leeway)
        (OPENSSL_JWT, IAT - 31, URL),  # issued in the future
        (OPENSSL_JWT, IAT + 10, URL + "-other"),  # for another endpoint
        (forge({**CLAIMS, "aud": "https://evil.example/x"}), IAT + 10, URL),
        (forge({k: v for k, v in CLAIMS.items() if k != "exp"}), IAT + 10, URL),
        (forge({k: v for k, v in CLAIMS.items() if k != "iat"}), IAT + 10, URL),
        (forge(CLAIMS, secret="another-secret-0123456789abcdef"), IAT + 10, URL),
        (forge(CLAIMS, algorithm="HS512"), IAT + 10, URL),  # only HS256
        ("e30." + base64.urlsafe_b64encode(json.dumps(CLAIMS).encode()).decode() + ".", IAT, URL),
        (OPENSSL_JWT[:-2] + "AA", IAT + 10, URL),
        ("not a jwt", IAT + 10, URL),
        # a segment no base64 can be (one character past a multiple of four): refused, where
        # the canonical-spelling check once raised binascii.Error (a 503, retried forever)
        (OPENSSL_JWT.rsplit(".", 1)[0] + ".A", IAT + 10, URL),
        (OPENSSL_JWT.rsplit(".", 1)[0] + ".a+b", IAT + 10, URL),
        # #22 finding 11: numbers JSON lets a forger write, and a token made to live for years
        (forge({**CLAIMS, "exp": float("inf")}), IAT + 10, URL),
        (forge({**CLAIMS, "iat": float("nan")}), IAT + 10, URL),
        (forge({**CLAIMS, "exp": IAT + 10 * 365 * 86400}), IAT + 10, URL),
        (forge({**CLAIMS, "iat": IAT + 5, "exp": IAT + 5 + 3600}), IAT + 10, URL),
    ],
)
def test_monday_refuses_every_other_token(token: str, now: float, url: str) -> None:
    with pytest.raises(InvalidSignature):
        monday(token, now, url)


def test_an_alg_none_token_is_refused() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(json.dumps(CLAIMS).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidSignature):
        monday(f"{header}.{claims}.")


@pytest.mark.parametrize("name", ["dynamics", "zoho"])
def test_a_query_key_matches_in_constant_time_and_only_once(name: str) -> None:
    source = CATALOG.get(name)
    assert source is not None
    parameter = source.config.auth.parameter  # type: ignore[union-attr]
    key = "00000000-0000-0000-0000-000000000001"

    def check(query: str) -> None:
        request = SignedRequest("POST", f"https://h.example/webhooks/{name}?{query}", b"{}")
        source.verifier.verify(request, ["older-key-0000000000000", key], 0)

    check(f"{parameter}={key}")
    check(f"other=1&{parameter}={key}")
    for query in (f"{parameter}=wrong", "", f"{parameter}=", f"{parameter}={key}&{parameter}={key}",
                  f"{parameter.upper()}={key}"):  # fmt: skip
        with pytest.raises(InvalidSignature):
            check(query)


def test_meta_style_verifies_its_openssl_vector() -> None:
    headers = Headers({"X-Hub-Signature-256": f"sha256={META_SIGNATURE}"})
    request = SignedRequest("POST", "", META_BODY, headers)
    verifier("meta-style").verify(request, [SECRET], 0)
    with pytest.raises(InvalidSignature):
        verifier("meta-style").verify(
            SignedRequest("POST", "", META_BODY + b" ", request.headers), [SECRET], 0
        )


def single_use_pipeline(single_use: bool):  # type: ignore[no-untyped-def]
    from skipcall_bridge.receive.pipeline import Pipeline
    from skipcall_bridge.sources.catalog import SourceCatalog
    from skipcall_bridge.sources.parsing import parse_sources

    from .fakes import RecordingDeadLetters, ScriptedSkipcall, StaticSecrets

    config = {"sources": {"monday": {
        "auth": {"scheme": "jwt", "secretId": "m", "singleUse": single_use},
        "sequence": {"name": "{{ name }}", "creatorId": "{{ owner }}",
                     "assignedToIds": "{{ owner }}"},
    }}}  # fmt: skip
    return Pipeline(
        SourceCatalog.from_config(parse_sources(json.dumps(config))),
        StaticSecrets({"m": [SECRET]}),
        ScriptedSkipcall(),
        RecordingDeadLetters(),
        max_body_bytes=4096,
        wall_clock=lambda: IAT + 10,
    )


@pytest.mark.parametrize("single_use", [True, False])
def test_a_single_use_token_is_good_for_its_first_body_and_that_body_s_retries(
    single_use: bool,
) -> None:
    """#22 finding 11: a JWT's claims say nothing of the body, so a captured token could carry
    any body for its life. `singleUse` binds it to the body it first came with."""
    from skipcall_bridge.receive.inbound import InboundDelivery

    pipeline = single_use_pipeline(single_use)
    owner = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"

    def deliver(name: str) -> object:
        body = json.dumps({"name": name, "owner": owner}).encode()
        request = SignedRequest("POST", URL, body, Headers({"Authorization": OPENSSL_JWT}))
        return pipeline.process(InboundDelivery("monday", request), 20.0)

    deliver("Call Ada")
    deliver("Call Ada")  # the sender's retry of the same request: same token, same body
    if single_use:
        with pytest.raises(InvalidSignature):
            deliver("Call Mallory")  # the captured token with another body
    else:
        deliver("Call Mallory")  # without it: any body while the token lives (documented)


def padded(token: str) -> str:
    """The same token with its signature padded by one `=`, which PyJWT accepts."""
    header, payload, signature = token.split(".")
    return f"{header}.{payload}.{signature}="


def test_a_single_use_token_written_another_way_is_refused() -> None:
    """Security review #28, finding 1: PyJWT accepts a signature with `=` padding; the ledger
    keyed the token's text, so the same token written a second way carried a second body. Only
    the canonical spelling is accepted."""
    from skipcall_bridge.receive.inbound import InboundDelivery

    pipeline = single_use_pipeline(True)
    owner = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"

    def deliver(name: str, token: str) -> object:
        body = json.dumps({"name": name, "owner": owner}).encode()
        request = SignedRequest("POST", URL, body, Headers({"Authorization": token}))
        return pipeline.process(InboundDelivery("monday", request), 20.0)

    deliver("Call Ada", OPENSSL_JWT)
    for other in [padded(OPENSSL_JWT)]:
        jwt.decode(other, SECRET, algorithms=["HS256"], options={"verify_aud": False,
                                                                 "verify_exp": False})  # fmt: skip
        with pytest.raises(InvalidSignature):
            deliver("Call Mallory", other)
