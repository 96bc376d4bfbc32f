"""Subscription handshakes: how a sender checks the URL before it sends anything.

- `echo-challenge` (monday.com): a POST whose JSON body is only `{"challenge": "…"}`, answered
  with the value (as JSON, text or a header, as the source says). It is not verified (the
  sender has nothing to sign it with yet), so it is recognised strictly, and it creates nothing.
- `verify-token` (Meta style): a GET with mode, challenge and token in the query; the token is
  compared in constant time with a secret, and the challenge is answered as text.
- `reachability` (Mailchimp): a GET that must be answered 200, once it passes the source's own
  check (its query key).
- `hook-secret` (Keap, Asana): a POST carrying `X-Hook-Secret`, answered with the same header and
  value. Keeping that secret changes state on a request nobody signed, so it happens only
  while an operator has armed the source (`skipcall-bridge sources arm`): the first handshake
  then takes the window and stores the secret; any other is echoed, or refused.

A handshake is logged once, is never dead-lettered and never reaches Skipcall.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from typing import Literal

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.common.errors import InvalidSignature, RouteNotFound, Unavailable
from skipcall_bridge.common.observability import logger, metrics
from skipcall_bridge.common.ports import HookSecretKeeper, SigningSecrets
from skipcall_bridge.sources.catalog import Source
from skipcall_bridge.sources.config import EchoChallenge, HookSecret, Reachability, VerifyToken
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
        raise InvalidSignature("missing", "no subscribe mode or challenge in the URL")
    if CHALLENGE.fullmatch(challenge) is None:
        raise InvalidSignature("malformed", "a challenge unfit to echo")
    matched = False
    for secret in secrets.signing_secrets(handshake.secret_id):
        expected = shared_secret(secret)  # a short token is a misconfiguration, never a match
        matched |= hmac.compare_digest(expected, token)  # every secret, no short-cut
    if not matched:
        raise InvalidSignature("mismatch", "the verify token is not the source's")
    logger.info("Handshake answered", extra={"source": source.name, "handshake": handshake.type})
    return HandshakeAnswer("text", handshake.challenge_parameter, challenge)


def hook_secret(
    source: Source, request: SignedRequest, keeper: HookSecretKeeper | None, now: float
) -> HandshakeAnswer | None:
    """The answer when the request is the source's REST-hook handshake (None: it is not one).
    Raises InvalidSignature (a value not fit to reflect, or refused while not armed) and
    Unavailable (the secret could not be stored: the sender retries, the window reopened)."""
    handshake = source.config.handshake
    if not isinstance(handshake, HookSecret):
        return None
    value = request.headers.get(handshake.header)
    if value is None:
        return None  # an ordinary delivery
    if CHALLENGE.fullmatch(value) is None:
        # never reflected: CR/LF or markup would be a foothold
        raise InvalidSignature("malformed", "an X-Hook-Secret unfit to echo")
    if handshake.keep:
        kept = _keep_if_armed(source, value, keeper, now)
        _counted("HookSecretsKept" if kept else "HookSecretHandshakes")
        if not kept and handshake.otherwise == "refuse":
            logger.warning("Hook secret handshake refused: the source is not armed",
                           extra={"source": source.name})  # fmt: skip
            raise InvalidSignature(
                "missing", "a hook-secret handshake while the source is not armed"
            )
    else:
        _counted("HookSecretHandshakes")
    logger.info("Handshake answered", extra={"source": source.name, "handshake": handshake.type})
    return HandshakeAnswer("header", handshake.header, value, handshake.header)


def _keep_if_armed(source: Source, value: str, keeper: HookSecretKeeper | None, now: float) -> bool:
    """True when the source was armed: the window is this handshake's, and its secret kept."""
    if keeper is None or source.secret_id is None:
        return False
    until = keeper.disarm(source.name, now)
    if until is None:
        return False
    try:
        keeper.keep(source.secret_id, value)
    except Unavailable:
        keeper.arm(source.name, until)  # not kept: the sender's retry finds the window open
        raise
    logger.warning("Hook secret kept as the source's signing secret",
                   extra={"source": source.name, "secretId": source.secret_id})  # fmt: skip
    return True


def _counted(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
