"""The sources file: pydantic models, loading, validation and compilation (once, at load)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from jmespath.exceptions import JMESPathError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.errors import ConfigurationError, InvalidBody
from skipcall_bridge.sources.identity import ContactRules, IdentityServices, Resolution
from skipcall_bridge.sources.mapping import (
    ACTIONS,
    PLACEHOLDER,
    ActionMapper,
    EventMappingError,
    EventSelector,
    FieldError,
    TemplateSyntaxError,
    compile_expression,
    compile_template,
    field_path,
)
from skipcall_bridge.sources.payloads import BodyFormat, ConfiguredFormat, format_for, parse_body
from skipcall_bridge.verify import SignedRequest, Verifier
from skipcall_bridge.verify.hmac_grammar import HmacGrammar, grammar_warnings
from skipcall_bridge.verify.registry import build_verifier
from skipcall_bridge.verify.schemes import AuthConfig, UnmappedStatus

T = TypeVar("T")
SOURCE_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ContactField = Literal[
    "id", "firstName", "lastName", "name", "phone", "phones", "email", "company", "aliases"
]  # fmt: skip
CONTACT_DEFAULTS = {name: name for name in get_args(ContactField)}
IDENTITY_CALL = re.compile(r"\b(member|contact|linked)\s*\(")


def _check_compiles(compile_: Callable[[T], object], value: T) -> T:
    """Compile once to report syntax errors at load, as pydantic errors on the field."""
    try:
        compile_(value)
    except TemplateSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return value


class SequenceTemplates(BaseModel):
    """One template per CreateSequenceDto field; unknown fields are refused at load. `name` may
    be left out only where the name comes from a `target`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: JsonValue = None
    creatorId: JsonValue
    assignedToIds: JsonValue
    contactIds: JsonValue = None

    @field_validator("*")
    @classmethod
    def _compiles(cls, value: JsonValue) -> JsonValue:
        return _check_compiles(compile_template, value)


class EchoChallenge(BaseModel):
    """The sender POSTs `{"<field>": "<challenge>"}` once to check the URL, and expects the value
    back (monday.com: the same JSON). Answered without verification: it creates nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["echo-challenge"]
    field: str = Field(default="challenge", min_length=1)
    answer: Literal["json", "text", "header"] = "json"
    header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]+$")  # answer "header"
    # Only a body holding nothing but the field is a handshake, unless this says otherwise.
    other_fields: bool = Field(default=False, alias="otherFields")

    @model_validator(mode="after")
    def _header_named(self) -> EchoChallenge:
        if (self.answer == "header") != (self.header is not None):
            raise ValueError('answer "header" and `header` go together')
        return self


class VerifyToken(BaseModel):
    """The sender GETs `?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…` (Meta style) and
    expects the challenge back as text when the token is the one it was given."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["verify-token"]
    secret_id: str = Field(alias="secretId", min_length=1)  # the verify token's secret
    mode_parameter: str = Field(default="hub.mode", alias="modeParameter", min_length=1)
    mode: str = "subscribe"
    challenge_parameter: str = Field(
        default="hub.challenge", alias="challengeParameter", min_length=1
    )
    token_parameter: str = Field(default="hub.verify_token", alias="tokenParameter", min_length=1)


class Reachability(BaseModel):
    """The sender GETs the URL once before saving it and wants a 200 (Mailchimp). Answered
    only when the GET passes the source's own check (a query key in the URL: the one scheme a
    GET can carry); it creates nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["reachability"]


Handshake = Annotated[EchoChallenge | VerifyToken | Reachability, Field(discriminator="type")]


class TargetTemplates(BaseModel):
    """The sequence an enrol or unenrol acts on: `{"id": ...}`, or `{"name": ...}`, the sequence
    with this name, created from `sequence` the first time it is needed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: JsonValue = None
    name: JsonValue = None

    @model_validator(mode="after")
    def _one_of_id_or_name(self) -> TargetTemplates:
        given = [value for value in (self.id, self.name) if value is not None]
        if len(given) != 1:
            raise ValueError('give exactly one of "id" and "name"')
        _check_compiles(compile_template, given[0])
        return self


def _constant(template: JsonValue) -> JsonValue | None:
    """The template's value when it has no placeholder, else None."""
    if isinstance(template, str) and PLACEHOLDER.search(template):
        return None
    return template


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # A note for people (JSON has no comments): where the preset comes from, what it expects.
    comment: str | None = Field(default=None, alias="$comment")
    auth: AuthConfig
    # How bodies are read: json, form (application/x-www-form-urlencoded), xml (a Salesforce
    # outbound message), or auto by each request's Content-Type; unset: the scheme's own.
    body_format: ConfiguredFormat | None = Field(default=None, alias="bodyFormat")
    # The URL senders call for this source, when a URL-signing scheme (HubSpot, Twilio, a
    # grammar's {url}, JWT `aud`) must see it and the Lambda cannot (a custom domain, a proxy).
    public_url: str | None = Field(
        default=None, alias="publicUrl", pattern=r"^https?://[^?#\s]+$", max_length=2048
    )
    events: str | None = None
    delivery_id: str | None = Field(default=None, alias="deliveryId")
    # What each event does: create (a new sequence from `sequence`), enrol or unenrol (the
    # contacts of `contactIds` into or out of `target`); a template, null/empty = ignored.
    action: JsonValue = "create"
    sequence: SequenceTemplates | None = None
    target: TargetTemplates | None = None
    contact_ids: JsonValue = Field(default=None, alias="contactIds")
    assign_to: JsonValue = Field(default=None, alias="assignTo")  # an email or CRM owner id
    workspace_id: str | None = Field(default=None, alias="workspaceId")
    budget_seconds: float | None = Field(default=None, alias="budgetSeconds", gt=0, le=25)
    # How many of one delivery's events are worked at once (their Skipcall calls in flight
    # together); 1 works them one after another.
    concurrency: int = Field(default=8, ge=1, le=16)
    # Target names belong to the source; true shares them with every source that says so
    # (and with the names created before names were scoped).
    shared_sequence_names: bool = Field(default=False, alias="sharedSequenceNames")
    # The most events one delivery may carry (HubSpot batches 100): more is refused with 413
    # before any work, rather than letting one request spend minutes and write thousands.
    max_events: int = Field(default=100, alias="maxEvents", ge=1, le=1000)
    # Identity resolution: member() looks here first (email or CRM owner id -> membership id);
    # contact() reads the CRM object's fields through `contact` and normalises phone numbers
    # with `defaultRegion`.
    members: dict[str, str] = Field(default_factory=dict)
    contact: dict[ContactField, str] = Field(default_factory=dict)
    default_region: str | None = Field(default=None, alias="defaultRegion", pattern=r"^[A-Z]{2}$")
    # Fields the sender changes between attempts of one delivery (beside its scheme's own):
    # left out of the fingerprint that tells a retry from a conflicting reuse of an id.
    volatile_fields: list[str] = Field(default_factory=list, alias="volatileFields")
    # A create that may have reached Skipcall is dead-lettered OUTCOME_UNKNOWN; "retry" lets the
    # replay send it again (a rare duplicate rather than a manual check).
    on_unknown_outcome: Literal["keep", "retry"] = Field(default="keep", alias="onUnknownOutcome")
    unmapped_status: UnmappedStatus | None = Field(default=None, alias="unmappedStatus")
    # How the sender checks the URL before sending anything (monday.com, Meta-style senders).
    handshake: Handshake | None = None

    @field_validator("action", "contact_ids", "assign_to")
    @classmethod
    def _template_compiles(cls, value: JsonValue) -> JsonValue:
        return _check_compiles(compile_template, value)

    @model_validator(mode="after")
    def _action_has_what_it_needs(self) -> SourceConfig:
        action = _constant(self.action)
        if action is not None and action not in ACTIONS:
            raise ValueError(f"action: {json.dumps(action)} is not one of {', '.join(ACTIONS)}")
        if action == "create" and (self.sequence is None or self.sequence.name is None):
            raise ValueError("action create: `sequence` (with its name) is required")
        moves = action in ("enrol", "unenrol") or (
            action is None and (self.target is not None or self.contact_ids is not None)
        )
        if moves and (self.target is None or self.contact_ids is None):
            raise ValueError("action enrol/unenrol: `target` and `contactIds` are required")
        # (an action template that renders enrol without it fails that event's mapping)
        by_name = self.target is not None and self.target.name is not None
        if by_name and action == "enrol" and self.sequence is None:
            raise ValueError(
                "target by name: `sequence` (creatorId, assignedToIds) is required to create it"
            )
        if self.assign_to is not None and action in ("create", "unenrol"):
            raise ValueError("assignTo: only an enrol assigns contacts")
        return self

    @field_validator("contact")
    @classmethod
    def _contact_fields_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for expression in value.values():
            _check_compiles(compile_expression, expression)
        return value

    @field_validator("members")
    @classmethod
    def _member_keys_ignore_case(cls, value: dict[str, str]) -> dict[str, str]:
        return {
            key.strip().lower() if "@" in key else key.strip(): member
            for key, member in value.items()
        }

    @field_validator("volatile_fields")
    @classmethod
    def _volatile_fields_are_paths(cls, value: list[str]) -> list[str]:
        for path in value:
            _check_compiles(compile_expression, path)
            if field_path(path) is None:
                raise ValueError(f"{path!r} is not a path of field names (e.g. meta.attempt)")
        return value

    @field_validator("events", "delivery_id")
    @classmethod
    def _expression_compiles(cls, value: str | None) -> str | None:
        return value if value is None else _check_compiles(compile_expression, value)


class SourcesFile(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        title="skipcall-bridge sources file",
    )

    # Where editors find schema/sources.schema.json (generated from these models).
    schema_: str | None = Field(default=None, alias="$schema")
    sources: dict[Annotated[str, Field(pattern=SOURCE_NAME)], SourceConfig]


def json_schema() -> dict[str, Any]:
    """The sources file's JSON Schema, as `schema/sources.schema.json` holds it."""
    schema = SourcesFile.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


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
    def secret_id(self) -> str:
        return self.config.auth.secret_id

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
        """Sources that load but verify weakly (a declarative HMAC grammar without a signed
        timestamp, with sha1, or signing its own signature header), or whose signature covers a
        URL that nothing here names, one line each."""
        weak = [
            f"{name}: {warning}"
            for name in self.names
            if isinstance(auth := self._sources[name].config.auth, HmacGrammar)
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
        ids = {source.secret_id for source in self._sources.values()}
        ids |= {
            handshake.secret_id
            for source in self._sources.values()
            if isinstance(handshake := source.config.handshake, VerifyToken)
        }
        return sorted(ids)

    @classmethod
    def from_config(cls, config: SourcesFile) -> SourceCatalog:
        return cls({name: Source.compile(name, source) for name, source in config.sources.items()})


def parse_sources(text: str | bytes, origin: str = "sources file") -> SourcesFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{origin}: not valid JSON: {exc}") from None
    try:
        return SourcesFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"  - {_location(error['loc'])}: {error['msg']}" for error in exc.errors()]
        raise ConfigurationError(f"{origin} is invalid:\n" + "\n".join(lines)) from None


def load_sources(path: Path) -> SourceCatalog:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read sources file {path}: {exc.strerror}") from None
    return SourceCatalog.from_config(parse_sources(text, origin=str(path)))


def _location(loc: tuple[int | str, ...]) -> str:
    # ('sources', 'zapier', 'auth', 'secretId') -> sources.zapier.auth.secretId
    return ".".join(str(part) for part in loc)
