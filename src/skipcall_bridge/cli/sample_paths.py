"""Which field paths of a source's templates find nothing in its sample events: a typo such as
`data.atributes.firstName` renders null, and the event maps to something else than meant (a
contact "Unknown Turing") without any error. `check-config` warns of each.

A path counts as found when some object of some sample event (the event, or any object inside
it: `contact()` and `&expr` read sub-objects) has it with a non-null value. Paths are read from
the JMESPath syntax tree: chains of plain field names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jmespath
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from jmespath.exceptions import JMESPathError

from skipcall_bridge.common.payloads import format_for
from skipcall_bridge.receive.gateway_event import raw_body
from skipcall_bridge.sources.catalog import Source
from skipcall_bridge.sources.templates import PLACEHOLDER
from skipcall_bridge.verify import Headers

Path = tuple[str, ...]


def template_paths(source: Source) -> dict[Path, str]:
    """Each field path the source reads, with where it is written (first place)."""
    config = source.config
    found: dict[Path, str] = {}
    for where, expression in _expressions(config.model_dump(by_alias=True, exclude_none=True)):
        for path in expression_paths(expression):
            found.setdefault(path, where)
    return found


def unmatched(source: Source, events: list[Any]) -> list[str]:
    """One warning per path no sample event has."""
    present = set()
    for event in events:
        present |= _paths_in(event)
    return [
        f"{where}: `{'.'.join(path)}` matches nothing in the sample events (a typo, or a field "
        "these samples lack)"
        for path, where in template_paths(source).items()
        if not any(have[len(have) - len(path) :] == path for have in present)
    ]


def expression_paths(expression: str) -> list[Path]:
    try:
        tree = jmespath.compile(expression.strip()).parsed
    except JMESPathError:
        return []
    return list(_chains(tree))


def _chains(node: Any) -> Iterator[Path]:
    """The field-name chains of a JMESPath tree (`a.b.c`, the `a.b` of `a.b[0]`)."""
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "field":
        if node["value"] not in _BARE_LITERALS:
            yield (node["value"],)
    elif kind == "subexpression":
        yield from _subexpression_chains(node["children"])
    else:
        for child in node.get("children", []):
            yield from _chains(child)


def _subexpression_chains(children: list[Any]) -> Iterator[Path]:
    chain: list[str] = []
    for child in children:
        indexed = _indexed_field(child)
        if isinstance(child, dict) and child.get("type") == "field":
            chain.append(child["value"])
        elif indexed is not None:  # `contacts[0]`: the chain ends there
            yield (*chain, indexed)
            chain = []
        else:
            if chain:
                yield tuple(chain)
            chain = []
            yield from _chains(child)
    if chain:
        yield tuple(chain)


def _indexed_field(node: Any) -> str | None:
    if not isinstance(node, dict) or node.get("type") != "index_expression":
        return None
    first = node["children"][0] if node.get("children") else None
    if isinstance(first, dict) and first.get("type") == "field":
        return str(first["value"])
    return None


# `null` in a template is JMESPath's field "null" (a literal is `null` in backticks): it reads as
# null, as its writer meant; so do `true` and `false`.
_BARE_LITERALS = frozenset({"null", "true", "false"})
# The parts of a source's configuration that are templates ({{ … }}) or expressions (plain),
# all read on each selected event (`events` reads the body: a typo there selects nothing).
_TEMPLATES = ("action", "sequence", "target", "contactIds", "assignTo")
_EXPRESSIONS = ("deliveryId",)


def _expressions(config: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key in _TEMPLATES:
        for where, text in _strings(config.get(key), key):
            for index, piece in enumerate(PLACEHOLDER.split(text)):
                if index % 2:
                    yield where, piece
    for key in _EXPRESSIONS:
        if isinstance(config.get(key), str):
            yield key, config[key]
    for name, expression in (config.get("contact") or {}).items():
        yield f"contact.{name}", expression


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, where)


def _paths_in(value: Any) -> set[Path]:
    """Every chain of object keys in `value` that ends at a non-null value (through lists)."""
    found: set[Path] = set()
    pending: list[tuple[Any, Path]] = [(value, ())]
    while pending:
        item, prefix = pending.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if child is not None and len(prefix) < 32:
                    found.add((*prefix, str(key)))
                    pending.append((child, (*prefix, str(key))))
        elif isinstance(item, list):
            pending.extend((child, prefix) for child in item)
    return found


def sample_events(source: Source, raw: bytes) -> list[Any]:
    """The events of a sample file: an API Gateway event as `events/` holds them (its body,
    read by its Content-Type), or a body as the sender posts it."""
    body, content_type = raw, None
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("version") == "2.0" and "body" in document:
        event = APIGatewayProxyEventV2(document)  # read as the handler reads a request
        body = raw_body(event)
        content_type = Headers(document.get("headers")).get("content-type")
    payload = source.parse_body(body, format_for(source.body_format, content_type))
    return list(source.events.select(payload))
