"""`{{ jmespath }}` templates: what one event does (its `action`) and with what: the
CreateSequenceDto of a `sequence` block, or the target, contact ids and assignee of an enrol or
unenrol.

Rules (docs/sources.md, "Templates"):
- a string that is exactly one `{{ expr }}` keeps the JSON type of the result;
- text around placeholders makes a string;
- any other value (numbers, lists, strings without placeholders) is a constant;
- a field that renders to null or an empty list is omitted, so required ones fail validation.
Everything is compiled once, when the sources file loads.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, cast

import jmespath
from aws_lambda_powertools.utilities.jmespath_utils import PowertoolsFunctions
from jmespath import functions
from jmespath.exceptions import JMESPathError
from jmespath.visitor import TreeInterpreter
from pydantic import JsonValue, ValidationError

from skipcall_bridge.common.envelope import Action, Target
from skipcall_bridge.skipcall.models import SKIPCALL_ID, CreateSequenceDto
from skipcall_bridge.sources.identity import DirectoryUnavailable, IdentityError, Resolution

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
RESOLUTION: ContextVar[Resolution | None] = ContextVar("resolution", default=None)


# What powertools_base64_gzip() inflates at most, in all, while one event is mapped (or one
# delivery's events are selected): a few hundred KB of body must not become gigabytes of memory
# and tens of seconds (the event is a mapping failure instead). In all, not per call: over a
# projection, a 245 KB body inflated to 188 MB a call at a time (security review #28, finding 8).
MAX_INFLATED_BYTES = 10 * 1024 * 1024
INFLATED: ContextVar[list[int] | None] = ContextVar("inflated", default=None)


class TemplateFunctions(PowertoolsFunctions):
    """powertools_json(), powertools_base64() and powertools_base64_gzip() (Zapier and Make
    often send a JSON document inside a string field), and the identity functions."""

    @functions.signature({"types": ["string"]})
    def _func_powertools_base64_gzip(self, value: str) -> str:
        """As Powertools' own, but inflating at most what is left of MAX_INFLATED_BYTES."""
        spent = INFLATED.get()
        allowed = MAX_INFLATED_BYTES - (spent[0] if spent is not None else 0)
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the gzip container
        data = inflater.decompress(base64.b64decode(value), allowed + 1)
        if len(data) > allowed or inflater.unconsumed_tail:
            raise ValueError(f"powertools_base64_gzip(): inflates past {MAX_INFLATED_BYTES} bytes")
        if spent is not None:
            spent[0] += len(data)
        return data.decode()

    @functions.signature({"types": ["string", "number"]})
    def _func_member(self, key: str | float) -> str:
        return _resolution().member(key)

    @functions.signature({"types": ["object"]})
    def _func_contact(self, crm: dict[str, Any]) -> str | None:
        return _resolution().contact(crm)

    # linked(crm id) or linked(crm id, 'other-source'): jmespath has no optional arguments.
    @functions.signature({"types": ["string", "number"], "variadic": True})
    def _func_linked(self, crm_id: str | float, *source: str | float) -> str | None:
        if len(source) > 1 or (source and not isinstance(source[0], str)):
            raise IdentityError("linked(): a CRM record id, and optionally a source name")
        return _resolution().linked(crm_id, str(source[0]) if source else None)


def _resolution() -> Resolution:
    resolution = RESOLUTION.get()
    if resolution is None:
        raise IdentityError("member() and contact() resolve only while an event is mapped")
    return resolution


JMESPATH_OPTIONS = jmespath.Options(custom_functions=TemplateFunctions())
LIST_FIELDS = frozenset({"assignedToIds", "contactIds"})
ID_HINTS = {
    "creatorId": "a Skipcall organizationMembershipId; CRM owner ids and emails need member()",
    "assignedToIds": "Skipcall organizationMembershipIds; CRM owner ids and emails need member()",
    "contactIds": "Skipcall contact ids; a CRM contact needs contact() or linked()",
}
ACTIONS = ("create", "enrol", "unenrol")
# A target id that is not a Skipcall id (a UUID) never reaches a URL: `..` would make urllib3
# drop a path segment and send the API key to another endpoint.
# A target name is a key of the link table: DynamoDB takes at most 2,048 bytes (with the key's
# prefix). Longer is a mapping failure, not an outage.
MAX_NAME_BYTES = 1024
# What separates a source's scope from a name in the link table (naming.SCOPE_SEPARATOR)
NAME_SCOPE_SEPARATOR = "::"


class TemplateSyntaxError(ValueError):
    """A template or JMESPath expression that cannot compile (reported at load)."""


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class EventMappingError(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))
        self.errors = errors


Render = Callable[[Any], Any]


def compile_expression(expression: str) -> Callable[[Any], Any]:
    """Compile a JMESPath expression once; the result searches with our custom functions.

    Plain paths (`name`, `data.lead.name`), most templates, become direct lookups with the same
    meaning (a field of an object, else null); everything else runs through jmespath."""
    try:
        parsed = jmespath.compile(expression.strip())
    except JMESPathError as exc:
        raise TemplateSyntaxError(f"invalid JMESPath {expression.strip()!r}: {exc}") from None
    path = _field_path(parsed.parsed)
    if path is not None:
        return functools.partial(_lookup, path)
    interpreter = TreeInterpreter(JMESPATH_OPTIONS)
    tree = parsed.parsed
    return lambda data: interpreter.visit(tree, data)


def field_path(expression: str) -> tuple[str, ...] | None:
    """`meta.attempt` -> ("meta", "attempt"); None when the expression is not a plain path."""
    try:
        return _field_path(jmespath.compile(expression.strip()).parsed)
    except JMESPathError:
        return None


def _field_path(node: dict[str, Any]) -> tuple[str, ...] | None:
    if node["type"] == "field":
        return (node["value"],)
    if node["type"] == "subexpression":
        parts = [_field_path(child) for child in node["children"]]
        if all(part is not None for part in parts):
            return tuple(name for part in parts if part is not None for name in part)
    return None


def _lookup(path: tuple[str, ...], data: Any) -> Any:
    for name in path:
        if not isinstance(data, dict):
            return None
        data = data.get(name)
    return data


def compile_template(template: JsonValue) -> Render:
    if not isinstance(template, str):
        return lambda _event: template
    pieces = PLACEHOLDER.split(template)
    for literal in pieces[::2]:  # text around the placeholders: a brace short is a typo
        if "{{" in literal or "}}" in literal:
            raise TemplateSyntaxError(
                f"unbalanced braces in {template!r}: a placeholder is {{{{ expression }}}}"
            )
    if len(pieces) == 1:
        return lambda _event: template
    if len(pieces) == 3 and pieces[0] == "" and pieces[2] == "":
        return compile_expression(_non_empty(pieces[1]))
    # Odd indexes are expressions, even indexes are literal text around them.
    parts: list[str | Callable[[Any], Any]] = [
        compile_expression(_non_empty(piece)) if index % 2 else piece
        for index, piece in enumerate(pieces)
        if index % 2 or piece
    ]

    def interpolate(event: Any) -> str:
        return "".join(part if isinstance(part, str) else _as_text(part(event)) for part in parts)

    return interpolate


def _non_empty(expression: str) -> str:
    if not expression.strip():
        raise TemplateSyntaxError("empty placeholder {{ }}")
    return expression


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class SequenceMapper:
    """The compiled `sequence` block of one source."""

    def __init__(self, templates: Mapping[str, JsonValue]) -> None:
        self._templates = dict(templates)
        self._fields = {name: compile_template(value) for name, value in templates.items()}

    def map(
        self, event: Any, resolution: Resolution | None = None, name: str | None = None
    ) -> CreateSequenceDto:
        """Render every field (`name`, when given, in place of the template's: a sequence
        created for a `target` name). Raises EventMappingError, or DirectoryUnavailable when
        Skipcall could not resolve an identity just now."""
        if resolution is None:  # no context to set (the hot path)
            return self.render(event, name)
        with resolving(resolution):
            return self.render(event, name)

    def render(self, event: Any, name: str | None = None) -> CreateSequenceDto:
        """`map` inside a resolution already set."""
        rendered: dict[str, Any] = {}
        errors: list[FieldError] = []
        for field, render in self._fields.items():
            if name is not None and field == "name":
                continue
            value = _render(field, render, event, errors)
            if value is not None:
                rendered[field] = value
        if name is not None:
            rendered["name"] = name
        if not errors:
            try:
                return CreateSequenceDto.model_validate(rendered)
            except ValidationError as exc:
                errors.extend(
                    FieldError(
                        ".".join(str(part) for part in error["loc"]),
                        self._explain(error, event),
                    )
                    for error in exc.errors(include_url=False)
                )
        raise EventMappingError(errors)

    def _explain(self, error: Any, event: Any) -> str:
        """Pydantic's message, with what a person needs to fix the template."""
        field = str(error["loc"][0]) if error["loc"] else ""
        template = self._templates.get(field)
        if error["type"] == "missing":
            if template is None:
                return f"{error['msg']}: add it to the source's `sequence`"
            return f"{json.dumps(template)} rendered null; {_where(template, event)}"
        value = error.get("input")
        if field in ID_HINTS and not isinstance(value, (list, dict)):
            kind = "a number" if isinstance(value, int | float) else type(value).__name__
            return f"got {json.dumps(value)} ({kind}); {ID_HINTS[field]}"
        return str(error["msg"])


@contextmanager
def one_inflation_budget() -> Iterator[None]:
    """Inside this block powertools_base64_gzip() inflates MAX_INFLATED_BYTES in all, however
    many times the templates call it."""
    token = INFLATED.set([0])
    try:
        yield
    finally:
        INFLATED.reset(token)


@contextmanager
def resolving(resolution: Resolution | None) -> Iterator[None]:
    """member(), contact() and linked() use `resolution` inside this block."""
    if resolution is None:
        yield
        return
    token = RESOLUTION.set(resolution)
    try:
        yield
    finally:
        RESOLUTION.reset(token)


def _render(field: str, render: Render, event: Any, errors: list[FieldError]) -> Any:
    """One field's value (None: omitted), or None with its error appended."""
    try:
        value = render(event)
    except DirectoryUnavailable:
        raise  # not this event's fault: it waits in the DLQ for Skipcall
    except (JMESPathError, IdentityError) as exc:
        errors.append(FieldError(field, str(exc) if isinstance(exc, IdentityError)
                                 else f"expression failed: {exc}"))  # fmt: skip
        return None
    except Exception as exc:  # a template function raised (powertools_json on text, …)
        errors.append(FieldError(field, f"template failed: {_describe(exc)}"))
        return None
    if field in LIST_FIELDS and isinstance(value, str):
        value = [value]  # one owner id is a list of one: saves `{{ [ownerId] }}` in configs
    if field in LIST_FIELDS and isinstance(value, list):
        value = [item for item in value if item is not None]  # skipped contacts
    return None if value == [] else value


@dataclass(frozen=True)
class CreateIntent:
    dto: CreateSequenceDto


@dataclass(frozen=True)
class MembershipIntent:
    """Enrol the contacts into the target, or take them out of it."""

    action: Literal["enrol", "unenrol"]
    target: Target
    contact_ids: list[str]
    assignee: str | None = None  # a workspace membership id (enrol only)


Intent = CreateIntent | MembershipIntent | None  # None: the event is ignored


class ActionMapper:
    """A source's `action`, `sequence`, `target`, `contactIds` and `assignTo`, compiled."""

    def __init__(
        self,
        action: JsonValue,
        sequence: Mapping[str, JsonValue] | None,
        target: Mapping[str, JsonValue] | None = None,
        contact_ids: JsonValue = None,
        assign_to: JsonValue = None,
    ) -> None:
        self._action = compile_template(action)
        # Most sources do one thing: a constant action is not rendered per event.
        self._fixed_action: Action | None = (
            cast(Action, action) if isinstance(action, str) and action in ACTIONS else None
        )
        self.sequence = SequenceMapper(sequence) if sequence is not None else None
        self._target = {key: compile_template(value) for key, value in (target or {}).items()}
        self._contacts = compile_template(contact_ids)
        self._assign_to = compile_template(assign_to) if assign_to is not None else None

    def map(self, event: Any, resolution: Resolution | None = None) -> Intent:
        """What the event does. Raises EventMappingError or DirectoryUnavailable."""
        with one_inflation_budget():
            return self._map(event, resolution)

    def _map(self, event: Any, resolution: Resolution | None) -> Intent:
        if self._fixed_action == "create" and self.sequence is not None:
            return CreateIntent(self.sequence.map(event, resolution))  # the hot path
        with resolving(resolution):
            action = self._fixed_action or self.action_of(event)
            if action is None:
                return None
            if action == "create":
                if self.sequence is None:
                    raise EventMappingError(
                        [FieldError("action", "rendered create, but the source has no sequence")]
                    )
                return CreateIntent(self.sequence.render(event))
            return self._membership(action, event, resolution)

    def creation(self, event: Any, name: str, resolution: Resolution | None) -> CreateSequenceDto:
        """The DTO that creates the target named `name` (from the source's `sequence`)."""
        if self.sequence is None:  # refused at load: a named target needs `sequence`
            raise EventMappingError([FieldError("sequence", "needed to create a named target")])
        return self.sequence.map(event, resolution, name)

    def action_of(self, event: Any) -> Action | None:
        """The event's action alone (None: ignored); raises EventMappingError."""
        errors: list[FieldError] = []
        value = _render("action", self._action, event, errors)
        if errors:
            raise EventMappingError(errors)
        if value is None or value == "" or value is False:
            return None
        if value in ACTIONS:
            return cast(Action, value)
        raise EventMappingError(
            [
                FieldError(
                    "action",
                    f"rendered {json.dumps(value)}; expected one of "
                    "create, enrol, unenrol, or null to ignore the event",
                )
            ]
        )

    def _membership(
        self, action: Literal["enrol", "unenrol"], event: Any, resolution: Resolution | None
    ) -> MembershipIntent:
        errors: list[FieldError] = []
        target = self._render_target(event, errors)
        contacts = self._render_contacts(event, errors, resolution, action)
        assignee = None
        if action == "enrol" and self._assign_to is not None:
            assignee = self._render_assignee(event, errors, resolution)
        if errors or target is None:
            raise EventMappingError(errors)
        return MembershipIntent(action, target, contacts, assignee)

    def _render_target(self, event: Any, errors: list[FieldError]) -> Target | None:
        for key, render in self._target.items():  # one key: `id` or `name`
            value = _render(f"target.{key}", render, event, errors)
            if isinstance(value, int | float) and not isinstance(value, bool) and key == "id":
                value = str(value)
            if isinstance(value, str) and value.strip():
                problem = _target_problem(key, value.strip())
                if problem is None:
                    return Target.model_validate({key: value.strip()})
                errors.append(FieldError(f"target.{key}", problem))
                return None
            if not errors:
                errors.append(
                    FieldError(
                        f"target.{key}",
                        f"rendered {json.dumps(value)}; expected a non-empty string",
                    )
                )
        return None

    def _render_contacts(
        self,
        event: Any,
        errors: list[FieldError],
        resolution: Resolution | None,
        action: Literal["enrol", "unenrol"],
    ) -> list[str]:
        value = _render("contactIds", self._contacts, event, errors)
        if value is None:
            value = []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            errors.append(
                FieldError("contactIds", f"got {json.dumps(value)}; {ID_HINTS['contactIds']}")
            )
            return []
        skipped = resolution.skipped if resolution is not None else []
        # Nobody to take out when every contact was skipped (never linked): nothing to do.
        if not value and not errors and not (action == "unenrol" and skipped):
            why = "; ".join(f"{s['id'] or 'a contact without id'}: {s['reason']}" for s in skipped)
            why = why or "nothing found"
            errors.append(FieldError("contactIds", f"rendered no contact ids ({why})"))
        return list(dict.fromkeys(value))  # each contact once, in order

    def _render_assignee(
        self, event: Any, errors: list[FieldError], resolution: Resolution | None
    ) -> str | None:
        assert self._assign_to is not None
        key = _render("assignTo", self._assign_to, event, errors)
        if key is None:
            return None  # Skipcall's round-robin
        if resolution is None:
            errors.append(FieldError("assignTo", "needs identity resolution (Skipcall)"))
            return None
        try:
            return resolution.assignee(key)
        except IdentityError as exc:
            errors.append(FieldError("assignTo", str(exc)))
            return None


def _target_problem(key: str, value: str) -> str | None:
    if key == "id" and SKIPCALL_ID.fullmatch(value) is None:
        return f"rendered {json.dumps(value)[:80]}; a Skipcall sequence id is a UUID"
    return name_problem(value) if key == "name" else None


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a target name, a key of the link table (None: it can). Checked where
    a template renders it, and again where a letter kept it (naming)."""
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"a name of {len(name.encode())} bytes; at most {MAX_NAME_BYTES}"
    if NAME_SCOPE_SEPARATOR in name:
        # `crm::VIP` is crm's private link key: a name rendered from a sharing source's event
        # must not reach it (security review #28, finding 4)
        return f"a name may not hold {NAME_SCOPE_SEPARATOR!r}"
    return None


class EventSelector:
    """The optional `events` expression: which items of one delivery are events."""

    def __init__(self, expression: str | None) -> None:
        self._search = compile_expression(expression) if expression else None

    def select(self, payload: Any) -> list[Any]:
        """The delivery's events; [] when the expression selects nothing (a delivery with
        nothing to do for this source). Raises EventMappingError when the expression fails."""
        if self._search is None:
            return [payload]
        try:
            with one_inflation_budget():
                selected = self._search(payload)
        except Exception as exc:  # a JMESPath type error, or a function that raised
            raise EventMappingError([FieldError("events", f"expression failed: {exc}")]) from None
        if selected is None:
            return []
        return selected if isinstance(selected, list) else [selected]


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _where(template: JsonValue, event: Any) -> str:
    """For the first placeholder path that finds nothing: which part exists, and its keys."""
    for expression in PLACEHOLDER.findall(template) if isinstance(template, str) else []:
        path = field_path(expression)
        if path is None:
            continue
        data: Any = event
        known: list[str] = []
        for name in path:
            if not isinstance(data, dict) or name not in data:
                break
            data, known = data[name], [*known, name]
        else:
            continue  # the whole path exists (its value is null)
        where = ".".join(known) or "the event"
        if not isinstance(data, dict):
            return f"{where} is {type(data).__name__}, not an object"
        keys = ", ".join(list(data)[:12]) + (", …" if len(data) > 12 else "")
        return f"{where} has: {keys or 'nothing'}"
    return "its expressions found nothing in this event"
