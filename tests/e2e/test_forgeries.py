"""Forgeries of every preset's signed sample, sent over HTTP to `make dev`'s gateway as an
attacker would: a body byte changed (where the scheme signs the body), the authenticating
headers changed or dropped, an hour-old timestamp, another secret, a wrong URL token. None may
be accepted (2xx) and none may be answered 5xx.

Where a sample carries independent signatures (HubSpot's v3 beside v2, when a source accepts
both), one of them left intact still authenticates: they are changed together. Basic and bearer
credentials, query keys (Salesforce, Dynamics, Zoho) and monday.com's JWT do not cover the body
(those senders do not sign it)."""

from __future__ import annotations

import time
from collections import Counter

from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge.verify.schemes import PublicKeyAuth
from skipcall_bridge_dev import devdata
from skipcall_bridge_dev.dev_keys import key_pair
from skipcall_bridge_dev.sample_bodies import SAMPLE_BODIES
from skipcall_bridge_dev.samples import sample_body, sign_sample

from .conftest import EXAMPLE_SOURCES, Stack

CATALOG = load_sources(EXAMPLE_SOURCES)
UNSIGNED_BODY = {
    "basic",
    "bearer",
    "salesforce",
    "query-key",
    "jwt",
}  # credentials, not body signatures


def mutations(stack: Stack, source: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(what was changed, url, body, headers) for each forgery of the source's sample."""
    configured = CATALOG.get(source)
    assert configured is not None
    scheme = configured.config.auth.scheme
    sample = sign_sample(CATALOG, source, sample_body(source), url=stack.gateway)
    unsigned = ("content-type", "soapaction")
    signed = {k: v for k, v in sample.headers.items() if k.lower() not in unsigned}
    forged = []
    if scheme not in UNSIGNED_BODY:
        at = len(sample.body) // 2
        body = sample.body[:at] + bytes([sample.body[at] ^ 0x01]) + sample.body[at + 1 :]
        forged.append(("a body byte", sample.url, body, sample.headers))
    if signed:
        changed = {name: _changed(value) for name, value in signed.items()}
        forged.append(("every signed header changed", sample.url, sample.body,
                       {**sample.headers, **changed}))  # fmt: skip
        dropped = {k: v for k, v in sample.headers.items() if k not in signed}
        forged.append(("every signed header dropped", sample.url, sample.body, dropped))
        if len(signed) == 1:  # one header authenticates alone: also changed by one character
            name, value = next(iter(signed.items()))
            one = {**sample.headers, name: _changed(value, at=len(value) - 3)}
            forged.append((f"{name}: one character", sample.url, sample.body, one))
    stale = sign_sample(CATALOG, source, sample.body, url=stack.gateway, now=time.time() - 3600)
    if stale.headers != sample.headers:  # the scheme signs a timestamp
        forged.append(("an hour-old timestamp", stale.url, stale.body, stale.headers))
    if "?" in sample.url:  # the secret travels in the URL (Salesforce's token)
        forged.append(("the URL's token", sample.url + "x", sample.body, sample.headers))
    auth = configured.config.auth
    if isinstance(auth, PublicKeyAuth):  # another private key than the one the stack trusts
        other = key_pair(f"another/{configured.secret_id}", auth.algorithm)[0]
    else:
        other = devdata.signing_secret(f"another/{configured.secret_id}", scheme)
    wrong = sign_sample(CATALOG, source, sample.body, url=stack.gateway, secret=other)
    forged.append(("signed with another secret", wrong.url, wrong.body, wrong.headers))
    return forged


def _changed(value: str, at: int | None = None) -> str:
    at = len(value) // 2 if at is None else at
    # Another character even to a reader of hex in either case ("a" and "A" are one digit).
    return value[:at] + ("B" if value[at].lower() == "a" else "A") + value[at + 1 :]


def test_no_forgery_of_any_preset_is_accepted_or_answered_5xx(stack: Stack) -> None:
    statuses: Counter[int] = Counter()
    accepted, failed = [], []
    before = stack.effects()
    for source in sorted(SAMPLE_BODIES):
        for what, url, body, headers in mutations(stack, source):
            status, answer = stack.post(url, body, headers)
            statuses[status] += 1
            if status < 300:
                accepted.append((source, what, status))
            if status >= 500:
                failed.append((source, what, status, answer))
    assert accepted == []
    assert failed == []
    assert sum(statuses.values()) >= 4 * len(SAMPLE_BODIES)
    assert set(statuses) <= {401}, statuses  # refused as unauthenticated, nothing else
    assert stack.effects() == before  # no Skipcall request, no letter, no deferred event
    print(f"forgeries: {sum(statuses.values())} sent, statuses {dict(statuses)}")
