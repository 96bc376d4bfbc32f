"""`{{ jmespath }}` templates, compiled once when the sources file loads, and rendered for one
event (docs/sources.md, "Templates"):
- a string that is exactly one `{{ expr }}` keeps the JSON type of the result;
- text around placeholders makes a string;
- any other value (numbers, lists, strings without placeholders) is a constant;
- a field that renders to null or an empty list is omitted, so required ones fail validation.
Beside JMESPath's own functions: Powertools' (`powertools_json`, `powertools_base64`,
`powertools_base64_gzip`, within one inflation budget per event) and the identities
(`member`, `contact`, `linked`). Also the optional `events` selection of a delivery.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jmespath
from aws_lambda_powertools.utilities.jmespath_utils import PowertoolsFunctions
from jmespath import functions
from jmespath.exceptions import JMESPathError
from jmespath.visitor import TreeInterpreter
from pydantic import JsonValue

from skipcall_bridge.sources.directories import DirectoryUnavailable, IdentityError
from skipcall_bridge.sources.identity import Resolution

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


RESOLUTION: ContextVar[Resolution | None] = ContextVar("resolution", default=None)


# What powertools_base64_gzip() inflates at most, in all, while one event is mapped (or one
# delivery's events are selected): a few hundred KB of body must not become gigabytes of memory
# and tens of seconds (the event is a mapping failure instead). In all, not per call: over a
# projection, a 245 KB body inflated to 188 MB a call at a time (security review #28, finding 8).
MAX_INFLATED_BYTES = 10 * 1024 * 1024


INFLATED: ContextVar[list[int] | None] = ContextVar("inflated", default=None)

# fields whose single value is a list of one
LIST_FIELDS = frozenset({"assignedToIds", "contactIds"})


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


def render_field(field: str, render: Render, event: Any, errors: list[FieldError]) -> Any:
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
        errors.append(FieldError(field, f"template failed: {describe_error(exc)}"))
        return None
    if field in LIST_FIELDS and isinstance(value, str):
        value = [value]  # one owner id is a list of one: saves `{{ [ownerId] }}` in configs
    if field in LIST_FIELDS and isinstance(value, list):
        value = [item for item in value if item is not None]  # skipped contacts
    return None if value == [] else value


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


def describe_error(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def where_missing(template: JsonValue, event: Any) -> str:
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
