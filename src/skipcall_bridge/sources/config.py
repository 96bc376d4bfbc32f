"""The sources file's grammar: pydantic models that validate each source (its templates
compiled once, to report their errors at load), and the file parsed with every error located."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from skipcall_bridge.common.payloads import ConfiguredFormat
from skipcall_bridge.sources.mapping import ACTIONS
from skipcall_bridge.sources.templates import (
    PLACEHOLDER,
    TemplateSyntaxError,
    compile_expression,
    compile_template,
    field_path,
)
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


class HookSecret(BaseModel):
    """REST hooks (Keap, Asana): the subscription POST carries `X-Hook-Secret` and expects the
    same header and value back. A source that signs its deliveries with that secret (`keep`)
    keeps it only while an operator has armed it (`skipcall-bridge sources arm`): the first
    handshake then stores it and closes the window; at any other time it is echoed, or refused
    (`otherwise`). A handshake creates nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["hook-secret"]
    header: str = Field(default="X-Hook-Secret", pattern=r"^[A-Za-z0-9-]+$")
    keep: bool = False
    otherwise: Literal["echo", "refuse"] = "echo"


Handshake = Annotated[
    EchoChallenge | VerifyToken | Reachability | HookSecret, Field(discriminator="type")
]


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


@dataclass(frozen=True)
class ActionShape:
    """What the action checks read of a source: from the model, or from the raw file when one
    of its fields is invalid (so that every error of a source is named at once, #30 item 3)."""

    action: JsonValue
    sequence: bool
    sequence_named: bool
    target: bool
    target_named: bool
    contact_ids: bool
    assign_to: bool

    @classmethod
    def of_raw(cls, raw: dict[str, Any]) -> ActionShape:
        sequence, target = raw.get("sequence"), raw.get("target")
        return cls(
            action=raw.get("action", "create"),
            sequence=sequence is not None,
            sequence_named=isinstance(sequence, dict) and sequence.get("name") is not None,
            target=target is not None,
            target_named=isinstance(target, dict) and target.get("name") is not None,
            contact_ids=raw.get("contactIds", raw.get("contact_ids")) is not None,
            assign_to=raw.get("assignTo", raw.get("assign_to")) is not None,
        )


def action_problems(shape: ActionShape) -> list[str]:
    """Every way the source's action lacks what it needs (empty: none)."""
    problems = []
    action = _constant(shape.action)
    if action is not None and action not in ACTIONS:
        problems.append(
            f"action: {json.dumps(action)} is not one of {', '.join(ACTIONS)}"
            + did_you_mean(str(action), ACTIONS)
        )
    if action == "create" and not shape.sequence_named:
        problems.append("action create: `sequence` (with its name) is required")
    moves = action in ("enrol", "unenrol") or (
        action is None and (shape.target or shape.contact_ids)
    )
    if moves and not (shape.target and shape.contact_ids):
        problems.append("action enrol/unenrol: `target` and `contactIds` are required")
    # (an action template that renders enrol without it fails that event's mapping)
    if shape.target_named and action == "enrol" and not shape.sequence:
        problems.append(
            "target by name: `sequence` (creatorId, assignedToIds) is required to create it"
        )
    if shape.assign_to and action in ("create", "unenrol"):
        problems.append("assignTo: only an enrol assigns contacts")
    return problems


def did_you_mean(given: str, known: Iterable[str]) -> str:
    """` (did you mean "enrol"?)` for a near miss of a known value, else nothing."""
    import difflib  # only a broken file's guesses: not on every cold start

    by_lower = {value.lower(): value for value in known}  # contactID is contactIds' near miss
    close = difflib.get_close_matches(given.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {json.dumps(by_lower[close[0]])}?)" if close else ""


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
        problems = action_problems(
            ActionShape(
                action=self.action,
                sequence=self.sequence is not None,
                sequence_named=self.sequence is not None and self.sequence.name is not None,
                target=self.target is not None,
                target_named=self.target is not None and self.target.name is not None,
                contact_ids=self.contact_ids is not None,
                assign_to=self.assign_to is not None,
            )
        )
        if problems:
            raise ValueError("; ".join(problems))
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
