"""Subscription handshakes: how a sender checks the URL before it sends anything.

- `echo-challenge` (monday.com): a POST whose JSON body is only `{"challenge": "…"}`, answered
  with the value (as JSON, text or a header, as the source says). It is not verified (the
  sender has nothing to sign it with yet), so it is recognised strictly, and it creates nothing.
- `verify-token` (Meta style): a GET with mode, challenge and token in the query; the token is
  compared in constant time with a secret, and the challenge is answered as text.
- `reachability` (Mailchimp): a GET that must be answered 200, once it passes the source's own
  check (its query key).

A handshake is logged once, is never dead-lettered and never reaches Skipcall.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from typing import Literal

from skipcall_bridge.common.errors import InvalidSignature, RouteNotFound
from skipcall_bridge.common.observability import logger
from skipcall_bridge.common.ports import SigningSecrets
from skipcall_bridge.sources.catalog import Source
from skipcall_bridge.sources.config import EchoChallenge, Reachability, VerifyToken
from skipcall_bridge.verify.base import SignedRequest, shared_secret

MAX_CHALLENGE_CHARS = 512  # a challenge is a token, not a document: longer is not a handshake
# What senders send as a challenge (random tokens, digits). Anything else is refused: the value
# is reflected as a header or a text body, where CR/LF or markup would be a foothold.
CHALLENGE = re.compile(rf"[A-Za-z0-9._~-]{{1,{MAX_CHALLENGE_CHARS}}}")


@dataclass(frozen=True)
class HandshakeAnswer:
    """What the sender expects back."""

    kind: Literal["json", "text", "header"]
    field: str
    value: str
    header: str | None = None


def echo_challenge(source: Source, body: bytes) -> HandshakeAnswer | None:
    """The answer when `body` is the source's echo handshake; None for anything else."""
    handshake = source.config.handshake
    if not isinstance(handshake, EchoChallenge) or len(body) > 2 * MAX_CHALLENGE_CHARS:
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    value = payload.get(handshake.field)
    if not isinstance(value, str) or CHALLENGE.fullmatch(value) is None:
        return None
    if not handshake.other_fields and set(payload) != {handshake.field}:
        return None
    logger.info("Handshake answered", extra={"source": source.name, "handshake": handshake.type})
    return HandshakeAnswer(handshake.answer, handshake.field, value, handshake.header)


def answer_get(
    source: Source | None,
    request: SignedRequest,
    query: dict[str, str],
    secrets: SigningSecrets,
    now: float,
) -> HandshakeAnswer:
    """A GET to a source: its verify-token or reachability handshake (raises RouteNotFound for
    a source with neither, InvalidSignature when the GET does not pass)."""
    handshake = source.config.handshake if source is not None else None
    if source is not None and isinstance(handshake, Reachability):
        secret_id = source.secret_id  # None: a public-key source's keys are all in the file
        keys = secrets.signing_secrets(secret_id) if secret_id else ()
        source.verifier.verify(request, keys, now)
        logger.info(
            "Handshake answered", extra={"source": source.name, "handshake": "reachability"}
        )
        return HandshakeAnswer("json", "status", "ok")
    return verify_token(source, query, secrets)


def verify_token(
    source: Source | None, query: dict[str, str], secrets: SigningSecrets
) -> HandshakeAnswer:
    """The challenge, when the GET is the source's verify-token handshake with the right token.
    Raises RouteNotFound (the source has none), InvalidSignature (a wrong token or mode)."""
    handshake = source.config.handshake if source is not None else None
    if source is None or not isinstance(handshake, VerifyToken):
        raise RouteNotFound("This source takes no GET.")
    challenge = query.get(handshake.challenge_parameter, "")
    token = query.get(handshake.token_parameter, "").encode()
    if query.get(handshake.mode_parameter) != handshake.mode or not challenge:
        raise InvalidSignature
    if CHALLENGE.fullmatch(challenge) is None:
        raise InvalidSignature
    matched = False
    for secret in secrets.signing_secrets(handshake.secret_id):
        expected = shared_secret(secret)  # a short token is a misconfiguration, never a match
        matched |= hmac.compare_digest(expected, token)  # every secret, no short-cut
    if not matched:
        raise InvalidSignature
    logger.info("Handshake answered", extra={"source": source.name, "handshake": handshake.type})
    return HandshakeAnswer("text", handshake.challenge_parameter, challenge)
