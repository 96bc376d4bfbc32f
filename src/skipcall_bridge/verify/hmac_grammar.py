"""The declarative HMAC grammar: where the signature and the timestamp are, what the HMAC
covers (the `signed` template and its placeholders), and what is wrong with a grammar. The
sources file's model (verify/schemes.py) and the verifier (verify/hmac.py) both read it here,
so neither imports the other."""

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
    """The signed timestamp: its header, or its key in the signature list (Stripe's `t`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    header: HeaderName | None = None
    list_key: str | None = Field(default=None, alias="listKey", min_length=1)
    unit: Literal["s", "ms"] = "s"
    tolerance_seconds: Tolerance = 300

    @model_validator(mode="after")
    def _one_place(self) -> TimestampSpec:
        if (self.header is None) == (self.list_key is None):
            raise ValueError("give exactly one of header and listKey")
        return self


class HmacGrammar(BaseModel):
    """The declarative HMAC scheme (verify/hmac.py says what each field means)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    signature: SignatureSpec
    encoding: Literal["hex", "base64"] = "hex"
    signed: str = "{body}"
    timestamp: TimestampSpec | None = None
    id_header: HeaderName | None = Field(default=None, alias="idHeader")
    key_encoding: Literal["utf8", "hex", "base64"] = Field(default="utf8", alias="keyEncoding")

    @model_validator(mode="after")
    def _coherent(self) -> HmacGrammar:
        problems = template_errors(
            self.signed, has_timestamp=self.timestamp is not None, has_id=self.id_header is not None
        )
        if problems:
            raise ValueError("signed: " + "; ".join(problems))
        if self.timestamp is not None and "{timestamp}" not in self.signed:
            # An unsigned timestamp can be changed by whoever replays a captured request.
            raise ValueError("timestamp is checked but not signed: add {timestamp} to signed")
        if self.timestamp and self.timestamp.list_key and self.signature.format != "list":
            raise ValueError("timestamp.listKey needs signature.format list")
        return self


def grammar_warnings(grammar: HmacGrammar) -> list[str]:
    """What makes a valid grammar weak (check-config and `make package` print these)."""
    warnings = []
    if grammar.timestamp is None:
        warnings.append(
            "no signed timestamp: a captured request verifies again for as long as the "
            "idempotency records last (IDEMPOTENCY_EXPIRES_AFTER_SECONDS, 4 days by default)"
        )
    if grammar.algorithm == "sha1":
        warnings.append("algorithm sha1: use sha256 where the sender offers it")
    signature_headers = {
        header.lower() for header in (grammar.signature.header, *grammar.signature.alternatives)
    }
    signed_headers = {
        match.group(1).removeprefix("header:").lower()
        for match in PLACEHOLDER.finditer(grammar.signed)
        if match.group(1).startswith("header:")
    }
    if signature_headers & signed_headers:
        warnings.append("the signature's own header is inside what it signs")
    return warnings
