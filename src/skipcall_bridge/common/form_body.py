"""`application/x-www-form-urlencoded` bodies (ActiveCampaign, Twilio, Mailchimp, form builders)
read into what templates see, as Rails and PHP read them:

- `type=subscribe` -> {"type": "subscribe"}; a repeated name keeps its last value (Rails'
  `check_box` sends `x=0&x=1`: the box is ticked, "1");
- bracket names nest: `contact[email]=…` -> {"contact": {"email": …}};
- `tags[]=a&tags[]=b` -> {"tags": ["a", "b"]} (a list even with one value; lists come only
  from `[]`);
- `items[][id]=1&items[][qty]=2&items[][id]=3` -> a list of objects, a new one each time a name
  repeats (Rails' rule); `fields[12]=x` keeps `12` as an object key.

Every value is a string. A name that is both a value and a group or list (`a=1&a[b]=2`,
`a=1&a[]=2`) is refused, in whichever order its fields come, rather than resolved by a rule a
sender might not share; so are bodies past the limits below.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from skipcall_bridge.common.errors import InvalidForm

# Far above what any sender posts (ActiveCampaign's richest event has about 60 fields), and low
# enough that a hostile body costs little to refuse.
MAX_FIELDS = 1000
MAX_NAME_CHARS = 256
MAX_BRACKETS = 8  # `a[b][c]…`: brackets in one name

# name, then its brackets: `contact[fields][12]` -> "contact", "[fields][12]"
_NAME = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_BRACKET = re.compile(r"\[([^\[\]]*)\]")


def parse_form(body: bytes) -> dict[str, Any]:
    if body.lstrip()[:1] in (b"{", b"["):
        # JSON sent as a form: read as one, its text would turn into fields of its own choosing
        # (security review #28, finding 3); no sender's form starts so.
        raise InvalidForm("The body is JSON, not form fields.")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except ValueError as exc:  # not UTF-8 (as bytes or %-escapes), or too many fields
        raise InvalidForm(_why(exc)) from None
    form: dict[str, Any] = {}
    for name, value in pairs:
        _put(form, _path(name), value)
    return form


def _why(exc: ValueError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "The form body is not UTF-8."
    return f"The form body has more than {MAX_FIELDS} fields."


def _path(name: str) -> list[str]:
    """`contact[tags][]` -> ["contact", "tags", ""] ("" appends to a list). A name that is not
    of that shape (`a]b`, `[x]`) is one plain name."""
    if len(name) > MAX_NAME_CHARS:
        raise InvalidForm(f"A form field name is longer than {MAX_NAME_CHARS} characters.")
    match = _NAME.fullmatch(name)
    if match is None or not match.group(2):
        return [name]
    keys = _BRACKET.findall(match.group(2))
    if len(keys) > MAX_BRACKETS:
        raise InvalidForm(f"The form field {name!r} nests deeper than {MAX_BRACKETS} levels.")
    return [match.group(1), *keys]


def _put(form: dict[str, Any], path: list[str], value: str) -> None:
    if "" in path[1:]:  # a list in the name: `tags[]`, `items[][id]`
        _append_value(form, path, path.index("", 1) - 1, value)
        return
    _set_leaf(_holder(form, path, 0, len(path) - 1), path, value)


def _append_value(form: dict[str, Any], path: list[str], index: int, value: str) -> None:
    """`path[index]` holds a list: `[]` last appends the value; `[][rest]` fills the list's last
    object, or starts a new one when that object already has `rest` (Rails' rule)."""
    holder = _holder(form, path, 0, index)
    key = path[index]
    items = holder.setdefault(key, [])
    if not isinstance(items, list):
        raise InvalidForm(_conflict(path, index))
    rest = path[index + 2 :]
    if not rest:
        if items and isinstance(items[-1], dict):  # values and objects in one list: refused
            raise InvalidForm(_conflict(path, index))  # whichever came first
        items.append(value)
        return
    if any(part == "" for part in rest):
        raise InvalidForm(f"The form field {_name(path)!r} has more than one list in it.")
    last = items[-1] if items else None
    if not isinstance(last, dict) or _collides(last, rest):
        if last is not None and not isinstance(last, dict):
            raise InvalidForm(_conflict(path, index))
        last = {}
        items.append(last)
    _set_leaf(_holder(last, path, index + 2, len(path) - 1), path, value)


def _holder(node: dict[str, Any], path: list[str], start: int, stop: int) -> dict[str, Any]:
    """The object `path[start:stop]` leads to from `node`, made where missing."""
    for depth in range(start, stop):
        child = node.setdefault(path[depth], {})
        if not isinstance(child, dict):
            raise InvalidForm(_conflict(path, depth))
        node = child
    return node


def _collides(item: dict[str, Any], rest: list[str]) -> bool:
    """Whether `rest` cannot go into `item`: it is there already (Rails' rule), or a part of
    its way is a value. Either way a new object starts, so that which of two names comes
    first never decides whether a body is refused."""
    node: Any = item
    for part in rest:
        if not isinstance(node, dict):
            return True
        if part not in node:
            return False
        node = node[part]
    return True


def _set_leaf(node: dict[str, Any], path: list[str], value: str) -> None:
    key = path[-1]
    current = node.get(key)
    if current is not None and not isinstance(current, str):  # a group or a list already
        raise InvalidForm(_conflict(path, len(path) - 1))
    node[key] = value  # a repeated name keeps its last value, as Rails and PHP read it


def _conflict(path: list[str], index: int) -> str:
    return f"The form field {_name(path[: index + 1])!r} is both a value and a group or list."


def _name(path: list[str]) -> str:
    return path[0] + "".join(f"[{key}]" for key in path[1:])
