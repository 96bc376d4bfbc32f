"""The sources file's text parsed into its model, and a broken one explained: every error
located, with a did-you-mean for a near miss of a known value or field, and each source's action
checked even where a field of it failed (pydantic skips a model's own checks once a field
fails: one of two errors was named, #30 item 3)."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.sources.config import (
    ActionShape,
    SourcesFile,
    action_problems,
    did_you_mean,
    json_schema,
)


def parse_sources(text: str | bytes, origin: str = "sources file") -> SourcesFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{origin}: not valid JSON: {exc}") from None
    try:
        return SourcesFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"  - {line}" for line in explain(exc, data)]
        raise ConfigurationError(f"{origin} is invalid:\n" + "\n".join(lines)) from None


def explain(exc: ValidationError, data: Any) -> list[str]:
    errors = exc.errors()
    lines = [f"{location(error['loc'])}: {error['msg']}{_suggestion(error)}" for error in errors]
    checked = {error["loc"][:2] for error in errors if len(error["loc"]) == 2}
    raw_sources = data.get("sources") if isinstance(data, dict) else None
    for name, raw in raw_sources.items() if isinstance(raw_sources, dict) else ():
        if ("sources", name) in checked or not isinstance(raw, dict):
            continue  # its action was checked (the model's own error), or it is no object
        if any(error["loc"][:2] == ("sources", name) for error in errors):
            lines += [f"sources.{name}: {problem}" for problem in action_problems(
                ActionShape.of_raw(raw)
            )]  # fmt: skip
    return lines


def location(loc: tuple[int | str, ...]) -> str:
    # ('sources', 'zapier', 'auth', 'secretId') -> sources.zapier.auth.secretId
    return ".".join(str(part) for part in loc)


def _suggestion(error: ErrorDetails) -> str:
    context = error.get("ctx") or {}
    kind = error["type"]
    if kind == "literal_error":
        return did_you_mean(str(error["input"]), re.findall(r"'([^']*)'", context["expected"]))
    if kind == "union_tag_invalid":
        known = str(context.get("expected", "")).split(", ")
        return did_you_mean(str(context.get("tag", "")).strip('"'), known)
    if kind == "extra_forbidden":
        return did_you_mean(str(error["loc"][-1]), _field_names())
    return ""


@cache
def _field_names() -> frozenset[str]:
    """Every field name the sources file knows, as it is written (aliases)."""
    names: set[str] = set()
    for definition in [json_schema(), *json_schema().get("$defs", {}).values()]:
        names.update(definition.get("properties", {}))
    return frozenset(names)
