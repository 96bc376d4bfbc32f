"""The declarative signature grammar: where the signature and the timestamp are, what the
signature covers (the `signed` template and its placeholders), and what is wrong with a
grammar; with what it is made: an HMAC under a shared secret (`HmacGrammar`), or a private key
whose public half the receiver holds (`PublicKeyGrammar`). The sources file's models
(verify/schemes.py) and the verifiers (verify/hmac.py, verify/public_key.py) all read it here,
so none imports another."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from skipcall_bridge.verify.fields import HeaderName, Tolerance

PLACEHOLDER = re.compile(r"\{(body|timestamp|id|url|method|header:[A-Za-z0-9-]+)\}")


def template_errors(template: str, *, has_timestamp: bool, has_id: bool) -> list[str]:
    """What is wrong with a `signed` template (checked when the sources file loads)."""
    errors = []
    unknown = [
        part for part in re.findall(r"\{[^{}]*\}", template) if not PLACEHOLDER.fullmatch(part)
    ]
    if unknown:
        errors.append(f"unknown placeholder {unknown[0]} (use {{body}}, {{timestamp}}, {{id}}, "
                      "{url}, {method} or {header:Name})")  # fmt: skip
    if template.count("{body}") != 1:
        errors.append("must contain {body} exactly once")
    if "{timestamp}" in template and not has_timestamp:
        errors.append("uses {timestamp}: add `timestamp`")
    if "{id}" in template and not has_id:
        errors.append("uses {id}: add `idHeader`")
    return errors


class SignatureSpec(BaseModel):
    """Where the signature is: one header (or headers that duplicate it), holding one value
    after an optional `prefix`, or a list of `key=value` items of which every `key` is one."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    header: HeaderName
    alternatives: list[HeaderName] = Field(default_factory=list)
    format: Literal["value", "list"] = "value"
    prefix: str = ""
    key: str = Field(default="v1", min_length=1)
    item_separator: str = Field(default=",", alias="itemSeparator", min_length=1)
    pair_separator: str = Field(default="=", alias="pairSeparator", min_length=1)

    @model_validator(mode="after")
    def _prefix_only_for_a_value(self) -> SignatureSpec:
        if self.format == "list" and self.prefix:
            raise ValueError("prefix applies to format value; a list names its signatures by key")
        return self


class TimestampSpec(BaseModel):
    """The signed timestamp: its header, its key in the signature list (Stripe's `t`), or a
    top-level field of a JSON body the signature covers (HighLevel's `timestamp`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    header: HeaderName | None = None
    list_key: str | None = Field(default=None, alias="listKey", min_length=1)
    body_field: str | None = Field(
        default=None, alias="bodyField", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"
    )
    unit: Literal["s", "ms", "iso8601"] = "s"
    tolerance_seconds: Tolerance = 300

    @model_validator(mode="after")
    def _one_place(self) -> TimestampSpec:
        if sum(place is not None for place in (self.header, self.list_key, self.body_field)) != 1:
            raise ValueError("give exactly one of header, listKey and bodyField")
        return self


class SignedGrammar(BaseModel):
    """Where a signature is and what it covers, whatever makes it (verify/hmac.py says what
    each field means)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    signature: SignatureSpec
    encoding: Literal["hex", "base64"] = "hex"
    signed: str = "{body}"
    timestamp: TimestampSpec | None = None
    id_header: HeaderName | None = Field(default=None, alias="idHeader")

    @model_validator(mode="after")
    def _coherent(self) -> SignedGrammar:
        problems = template_errors(
            self.signed, has_timestamp=self.timestamp is not None, has_id=self.id_header is not None
        )
        if problems:
            raise ValueError("signed: " + "; ".join(problems))
        in_body = self.timestamp is not None and self.timestamp.body_field is not None
        if self.timestamp is not None and not in_body and "{timestamp}" not in self.signed:
            # An unsigned timestamp can be changed by whoever replays a captured request.
            raise ValueError("timestamp is checked but not signed: add {timestamp} to signed")
        if in_body and "{timestamp}" in self.signed:
            raise ValueError("timestamp.bodyField is signed with the body: leave {timestamp} out")
        if self.timestamp and self.timestamp.list_key and self.signature.format != "list":
            raise ValueError("timestamp.listKey needs signature.format list")
        return self


class HmacGrammar(SignedGrammar):
    """The declarative HMAC scheme."""

    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    key_encoding: Literal["utf8", "hex", "base64"] = Field(default="utf8", alias="keyEncoding")


PublicKeyAlgorithm = Literal["ed25519", "rsa-sha256", "rsa-pss-sha256", "ecdsa-p256-sha256"]


class PublicKeyGrammar(SignedGrammar):
    """A signature made with the sender's private key, checked with its published public keys
    (verify/public_key.py): the keys are given here, or held in a secret, or both."""

    algorithm: PublicKeyAlgorithm
    encoding: Literal["hex", "base64"] = "base64"
    public_keys: list[str] = Field(default_factory=list, alias="publicKeys", max_length=8)
    public_keys_secret_id: str | None = Field(
        default=None, alias="publicKeysSecretId", min_length=1
    )

    @model_validator(mode="after")
    def _has_keys(self) -> PublicKeyGrammar:
        if not self.public_keys and self.public_keys_secret_id is None:
            raise ValueError("give publicKeys, or publicKeysSecretId (a secret holding them)")
        return self


# Header names that say they hold a time: signed but unchecked, such a header is a timestamp no
# one compares with the clock (Zendesk's X-Zendesk-Webhook-Signature-Timestamp, declared as a
# {header:...} placeholder).
_TIME_HEADER = re.compile(r"time|date", re.IGNORECASE)


def grammar_warnings(grammar: SignedGrammar) -> list[str]:
    """What makes a valid grammar weak (check-config and `make package` print these)."""
    warnings = []
    signed_headers = [
        match.group(1).removeprefix("header:")
        for match in PLACEHOLDER.finditer(grammar.signed)
        if match.group(1).startswith("header:")
    ]
    unchecked = [name for name in signed_headers if _TIME_HEADER.search(name)]
    if grammar.timestamp is None and unchecked:
        warnings.append(
            f"the signed header {unchecked[0]} is a timestamp that is never checked: declare it "
            "as `timestamp` (unit s, ms or iso8601) and sign {timestamp} instead, so a "
            "captured request goes stale"
        )
    elif grammar.timestamp is None:
        warnings.append(
            "no signed timestamp: a captured request verifies again for as long as the "
            "idempotency records last (IDEMPOTENCY_EXPIRES_AFTER_SECONDS, 4 days by default)"
        )
    if isinstance(grammar, HmacGrammar) and grammar.algorithm == "sha1":
        warnings.append("algorithm sha1: use sha256 where the sender offers it")
    signature_headers = {
        header.lower() for header in (grammar.signature.header, *grammar.signature.alternatives)
    }
    if signature_headers & {name.lower() for name in signed_headers}:
        warnings.append("the signature's own header is inside what it signs")
    return warnings
