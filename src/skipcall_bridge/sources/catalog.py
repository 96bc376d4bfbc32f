"""The sources file compiled (once, at load): each source's verifier, parser, selector and
mappers (`Source`), and the catalog the receiver, the worker and the replay look them up in."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jmespath.exceptions import JMESPathError

from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.errors import ConfigurationError, InvalidBody
from skipcall_bridge.common.payloads import BodyFormat, ConfiguredFormat, format_for, parse_body
from skipcall_bridge.sources.config import (
    CONTACT_DEFAULTS,
    IDENTITY_CALL,
    SourceConfig,
    SourcesFile,
    VerifyToken,
)
from skipcall_bridge.sources.identity import ContactRules, IdentityServices, Resolution
from skipcall_bridge.sources.mapping import ActionMapper
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.sources.templates import (
    EventMappingError,
    EventSelector,
    FieldError,
    compile_expression,
    field_path,
)
from skipcall_bridge.verify import SignedRequest, Verifier
from skipcall_bridge.verify.hmac_grammar import SignedGrammar, grammar_warnings
from skipcall_bridge.verify.registry import build_verifier
from skipcall_bridge.verify.schemes import PublicKeyAuth, UnmappedStatus


@dataclass(frozen=True)
class Source:
    """A source ready to serve: verifier, expressions and mapper compiled once, with the
    sender's defaults (scheme) filled in where the file is silent."""

    name: str
    config: SourceConfig
    verifier: Verifier
    events: EventSelector
    mapper: ActionMapper
    event_id: Callable[[Any], Any] | None
    budget_seconds: float
    concurrency: int
    body_format: ConfiguredFormat
    contact_rules: ContactRules
    uses_identity: bool  # the templates call member() or contact()
    volatile_fields: tuple[tuple[str, ...], ...]  # field paths, left out of fingerprints
    unmapped_status: UnmappedStatus

    @property
    def secret_id(self) -> str | None:
        """The secret its verifier reads: the signing secret, or a public-key source's
        `publicKeysSecretId` (None: its keys are all in the sources file)."""
        auth = self.config.auth
        if isinstance(auth, PublicKeyAuth):
            return auth.public_keys_secret_id
        return auth.secret_id

    @property
    def name_scope(self) -> str | None:
        """Where this source's target names live: its own scope, or the shared one (None)."""
        return None if self.config.shared_sequence_names else self.name

    @classmethod
    def compile(cls, name: str, config: SourceConfig) -> Source:
        auth = config.auth
        delivery_id = config.delivery_id or auth.default_delivery_id
        return cls(
            name=name,
            config=config,
            verifier=build_verifier(auth),
            events=EventSelector(config.events or auth.default_events),
            mapper=ActionMapper(
                config.action,
                config.sequence.model_dump(exclude_unset=True) if config.sequence else None,
                config.target.model_dump(exclude_none=True) if config.target else None,
                config.contact_ids,
                config.assign_to,
            ),
            event_id=compile_expression(delivery_id) if delivery_id else None,
            budget_seconds=config.budget_seconds or auth.default_budget_seconds,
            concurrency=config.concurrency,
            body_format=config.body_format or auth.body_format,
            uses_identity=config.assign_to is not None
            or bool(
                IDENTITY_CALL.search(
                    json.dumps(config.model_dump(include={"sequence", "target", "contact_ids"}))
                )
            ),
            volatile_fields=tuple(
                path
                for expression in dict.fromkeys(
                    [*auth.default_volatile_fields, *config.volatile_fields]
                )
                if (path := field_path(expression)) is not None
            ),
            unmapped_status=config.unmapped_status or auth.default_unmapped_status,
            contact_rules=ContactRules(
                fields={
                    name: compile_expression(expression)
                    for name, expression in {**CONTACT_DEFAULTS, **config.contact}.items()
                },
                default_region=config.default_region,
                workspace_id=config.workspace_id,
            ),
        )

    def resolution(
        self, identity: IdentityServices | None, deadline: Deadline
    ) -> Resolution | None:
        """What member() and contact() use while one event maps; None when the templates call
        neither (or identity services are absent)."""
        if identity is None or not self.uses_identity:
            return None
        return identity.resolution(self.name, self.config.members, self.contact_rules, deadline)

    def format_of(self, request: SignedRequest) -> BodyFormat:
        """The format this request's body is read in: the one its signature proves, where the
        scheme proves one (Twilio: `bodySHA256` means JSON); else the source's (`auto`: by the
        Content-Type, which nothing signs)."""
        proven = self.verifier.signed_format(request)
        if proven is not None:
            return proven
        return format_for(self.body_format, request.headers.get("content-type"))

    def parse_body(self, body: bytes, body_format: BodyFormat | None = None) -> Any:
        """`body` read in `body_format`, else in the source's (JSON where that is `auto` and
        nothing says more: a letter of an `auto` source records the format it was read in)."""
        return parse_body(body, body_format or format_for(self.body_format, None))

    def read(self, request: SignedRequest) -> Reading:
        """A verified delivery's events with their ids, in one step: the body parsed in the
        source's format, the `events` selected, each given its delivery id. A body that cannot
        be read, or whose selection fails, is returned whole, to be stored as it came."""
        try:
            payload = self.parse_body(request.body, self.format_of(request))
        except InvalidBody as exc:
            return Reading(whole_body_id=self.base_delivery_id(request), unreadable=exc)

        def base() -> str:
            return self.base_delivery_id(request, payload)

        try:
            selected = self.events.select(payload)
            ids = self.delivery_ids(selected, base)
        except EventMappingError as exc:
            return Reading(whole_body_id=base(), payload=payload, unselectable=exc)
        return Reading(events=list(zip(ids, selected, strict=True)))

    def fingerprint(self, event: Any) -> Any:
        """What must be equal for two deliveries of one id to be the same event: the event
        without the fields its sender changes between attempts."""
        for path in self.volatile_fields:
            event = _without(event, path)
        return event

    def base_delivery_id(self, request: SignedRequest, payload: Any = None) -> str:
        """The delivery's own id, from signed material only: the scheme's signed delivery
        header, else the SHA-256 of what the signature covers (the body's bytes, or for a
        scheme that signs fields rather than bytes, those fields as signed: reordered bytes
        are the same delivery), of its fingerprint where the sender changes fields between
        attempts, so that a retry keeps its id."""
        signed = self.verifier.delivery_id(request)
        if signed:
            return signed
        if self.volatile_fields and payload is not None:
            canonical = json.dumps(
                self.fingerprint(payload), sort_keys=True, separators=(",", ":")
            ).encode()
            return _body_id(canonical)
        return _body_id(self.verifier.signed_content(request))

    def delivery_ids(self, events: list[Any], base: Callable[[], str]) -> list[str]:
        """One id per event: the `deliveryId` expression (or the sender's event id field),
        else the delivery's id (`base`, asked for only when some event has no id of its own:
        it may hash the whole body); `:<index>` within a batch."""
        own = [self._event_id(event) for event in events]
        if all(own):
            return [str(event_id) for event_id in own]
        shared = base()
        if len(events) == 1:
            return [own[0] or shared]
        return [event_id or f"{shared}:{index}" for index, event_id in enumerate(own)]

    def _event_id(self, event: Any) -> str | None:
        """The event's own id; None where it has none (the delivery's id stands in). An id
        expression that fails, or gives a list or an object (a form field sent twice), is an
        error, never a silent fall-back: the fall-back would hash bytes an attacker can vary,
        and a captured request would replay under a new id each time (security review #28,
        finding 2)."""
        if self.event_id is None:
            return None
        try:
            value = self.event_id(event)
        except JMESPathError as exc:
            raise EventMappingError([FieldError("deliveryId", str(exc))]) from None
        if isinstance(value, dict | list):
            kind = "a list" if isinstance(value, list) else "an object"
            raise EventMappingError([FieldError("deliveryId", f"gave {kind}, not an id")])
        if value is None or value == "":
            return None
        return str(value)


@dataclass(frozen=True)
class Reading:
    """What a delivery holds: its events with their delivery ids; or, when the body cannot be
    read (`unreadable`) or its events cannot be selected (`unselectable`), the body whole, under
    the delivery's own id."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    payload: Any = None
    whole_body_id: str = ""
    unreadable: InvalidBody | None = None
    unselectable: EventMappingError | None = None


def _body_id(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


# Lists a volatile field is looked for through: a batch of events, and a batch of batches.
# Deeper lists are not events: a hostile body nested hundreds deep is not walked.
VOLATILE_LIST_DEPTH = 2


def _without(data: Any, path: tuple[str, ...], lists: int = 0) -> Any:
    """A copy of `data` without the field at `path` (applied to each item of a list, so a
    batch body loses it from every event); `data` itself is left as it was. The recursion is
    bounded by the path's length and VOLATILE_LIST_DEPTH, never by the payload's depth."""
    if isinstance(data, list):
        if lists >= VOLATILE_LIST_DEPTH:
            return data
        return [_without(item, path, lists + 1) for item in data]
    if not isinstance(data, dict) or path[0] not in data:
        return data
    head, rest = path[0], path[1:]
    if not rest:
        return {key: value for key, value in data.items() if key != head}
    return {**data, head: _without(data[head], rest)}


class SourceCatalog:
    def __init__(self, sources: dict[str, Source]) -> None:
        self._sources = sources

    def get(self, name: str) -> Source | None:
        return self._sources.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._sources)

    def warnings(self) -> list[str]:
        """Sources that load but verify weakly (a declared signature without a signed
        timestamp, with sha1, or signing its own signature header), or whose signature covers a
        URL that nothing here names, one line each."""
        weak = [
            f"{name}: {warning}"
            for name in self.names
            if isinstance(auth := self._sources[name].config.auth, SignedGrammar)
            for warning in grammar_warnings(auth)
        ]
        return weak + [
            f"{name}: its signature covers the URL called, and it has no publicUrl: set one, or "
            "the stack's PublicBaseUrl (PUBLIC_BASE_URL), unless senders call the API's own "
            "execute-api domain (behind a custom domain's API mapping or CloudFront, the URL "
            "the receiver sees is not the one signed)"
            for name in self.names
            if self._sources[name].verifier.signs_url and not self._sources[name].config.public_url
        ]

    def secret_ids(self) -> list[str]:
        """Every Secrets Manager id the sources need: signing secrets and verify tokens."""
        ids = {source.secret_id for source in self._sources.values() if source.secret_id}
        ids |= {
            handshake.secret_id
            for source in self._sources.values()
            if isinstance(handshake := source.config.handshake, VerifyToken)
        }
        return sorted(ids)

    @classmethod
    def from_config(cls, config: SourcesFile) -> SourceCatalog:
        return cls({name: Source.compile(name, source) for name, source in config.sources.items()})


def load_sources(path: Path) -> SourceCatalog:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read sources file {path}: {exc.strerror}") from None
    return SourceCatalog.from_config(parse_sources(text, origin=str(path)))
