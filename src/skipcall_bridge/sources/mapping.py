"""What one event does (its `action`) and with what, rendered with its source's templates
(`templates.py`): the CreateSequenceDto of a `sequence` block, or the target, contact ids and
assignee of an enrol or unenrol; and which target names are names at all."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from pydantic import JsonValue, ValidationError

from skipcall_bridge.common.envelope import Action, Target
from skipcall_bridge.common.ports import SCOPE_SEPARATOR
from skipcall_bridge.skipcall.models import SKIPCALL_ID, CreateSequenceDto
from skipcall_bridge.sources.directories import IdentityError
from skipcall_bridge.sources.identity import Resolution
from skipcall_bridge.sources.templates import (
    EventMappingError,
    FieldError,
    compile_template,
    one_inflation_budget,
    render_field,
    resolving,
    where_missing,
)

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
            value = render_field(field, render, event, errors)
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
            return f"{json.dumps(template)} rendered null; {where_missing(template, event)}"
        value = error.get("input")
        if field in ID_HINTS and not isinstance(value, (list, dict)):
            kind = "a number" if isinstance(value, int | float) else type(value).__name__
            return f"got {json.dumps(value)} ({kind}); {ID_HINTS[field]}"
        return str(error["msg"])


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
        value = render_field("action", self._action, event, errors)
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
            value = render_field(f"target.{key}", render, event, errors)
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
        value = render_field("contactIds", self._contacts, event, errors)
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
        key = render_field("assignTo", self._assign_to, event, errors)
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
    if SCOPE_SEPARATOR in name:
        # `crm::VIP` is crm's private link key: a name rendered from a sharing source's event
        # must not reach it (security review #28, finding 4)
        return f"a name may not hold {SCOPE_SEPARATOR!r}"
    return None
