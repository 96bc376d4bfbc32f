"""`{{ jmespath }}` templates: a source's `sequence` block -> one CreateSequenceDto per event.

Rules (design.md, "Sources file"):
- a string that is exactly one `{{ expr }}` keeps the JSON type of the result;
- text around placeholders makes a string;
- any other value (numbers, lists, strings without placeholders) is a constant;
- a field that renders to null or an empty list is omitted, so required ones fail validation.
Everything is compiled once, when the sources file loads.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jmespath
from aws_lambda_powertools.utilities.jmespath_utils import PowertoolsFunctions
from jmespath import functions
from jmespath.exceptions import JMESPathError
from jmespath.visitor import TreeInterpreter
from pydantic import JsonValue, ValidationError

from skipcall_bridge.identity import DirectoryUnavailable, IdentityError, Resolution
from skipcall_bridge.skipcall.models import CreateSequenceDto

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
RESOLUTION: ContextVar[Resolution | None] = ContextVar("resolution", default=None)


class TemplateFunctions(PowertoolsFunctions):
    """powertools_json(), powertools_base64() and powertools_base64_gzip() (Zapier and Make
    often send a JSON document inside a string field), and the identity functions."""

    @functions.signature({"types": ["string", "number"]})
    def _func_member(self, key: str | float) -> str:
        return _resolution().member(key)

    @functions.signature({"types": ["object"]})
    def _func_contact(self, crm: dict[str, Any]) -> str | None:
        return _resolution().contact(crm)


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
    "contactIds": "Skipcall contact ids; a CRM contact needs contact()",
}


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

    def map(self, event: Any, resolution: Resolution | None = None) -> CreateSequenceDto:
        """Render every field. Raises EventMappingError, or DirectoryUnavailable when Skipcall
        could not resolve an identity just now."""
        if resolution is None:
            return self._map(event)
        token = RESOLUTION.set(resolution)
        try:
            return self._map(event)
        finally:
            RESOLUTION.reset(token)

    def _map(self, event: Any) -> CreateSequenceDto:
        rendered: dict[str, Any] = {}
        errors: list[FieldError] = []
        for name, render in self._fields.items():
            try:
                value = render(event)
            except DirectoryUnavailable:
                raise  # not this event's fault: it waits in the DLQ for Skipcall
            except (JMESPathError, IdentityError) as exc:
                errors.append(FieldError(name, str(exc) if isinstance(exc, IdentityError)
                                         else f"expression failed: {exc}"))  # fmt: skip
                continue
            except Exception as exc:  # a template function raised (powertools_json on text, …)
                errors.append(FieldError(name, f"template failed: {_describe(exc)}"))
                continue
            if name in LIST_FIELDS and isinstance(value, str):
                value = [value]  # one owner id is a list of one: saves `{{ [ownerId] }}` in configs
            if name in LIST_FIELDS and isinstance(value, list):
                value = [item for item in value if item is not None]  # skipped contacts
            if value is None or value == []:
                continue
            rendered[name] = value
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
