"""Form-encoded bodies (form_body.py) and `auto` (payloads.format_for): what templates see."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from skipcall_bridge.common.errors import InvalidForm
from skipcall_bridge.common.form_body import MAX_BRACKETS, MAX_FIELDS, parse_form
from skipcall_bridge.common.payloads import format_for, parse_body

# ActiveCampaign's `subscribe`, as it posts it (bracket names, PHP style)
ACTIVECAMPAIGN = (
    b"type=subscribe&date_time=2026-12-04T10%3A00%3A00-06%3A00&initiated_from=admin"
    b"&contact%5Bid%5D=42&contact%5Bemail%5D=ada%40example.com&contact%5Bfirst_name%5D=Ada"
    b"&contact%5Bphone%5D=%2B1+415+555+0100&contact%5Btags%5D=vip%2C+inbound"
    b"&contact%5Bfields%5D%5B12%5D=Enterprise&list=3"
)


def test_bracket_names_nest_as_rails_and_php_read_them() -> None:
    assert parse_form(ACTIVECAMPAIGN) == {
        "type": "subscribe",
        "date_time": "2026-12-04T10:00:00-06:00",
        "initiated_from": "admin",
        "contact": {
            "id": "42",
            "email": "ada@example.com",
            "first_name": "Ada",
            "phone": "+1 415 555 0100",
            "tags": "vip, inbound",
            "fields": {"12": "Enterprise"},
        },
        "list": "3",
    }


def test_lists_come_from_brackets_and_a_repeated_name_keeps_its_last_value() -> None:
    """#30 item 12: Rails' `check_box` sends `x=0&x=1` (ticked: "1"); a list came of it, and a
    duplicated `contact[email]` dropped the email."""
    body = (
        b"tags[]=a&tags[]=b&one[]=x&n=1&n=2&items[][id]=1&items[][qty]=2&items[][id]=3"
        b"&agree=0&agree=1&contact[email]=old%40example.com&contact[email]=ada%40example.com"
    )
    assert parse_form(body) == {
        "tags": ["a", "b"],
        "one": ["x"],  # a list even with one value
        "n": "2",
        "items": [{"id": "1", "qty": "2"}, {"id": "3"}],
        "agree": "1",
        "contact": {"email": "ada@example.com"},
    }


def test_odd_names_are_plain_names_and_blank_values_stay() -> None:
    assert parse_form(b"a]b=1&[x]=2&flag&empty=") == {"a]b": "1", "[x]": "2", "flag": "",
                                                      "empty": ""}  # fmt: skip


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"a=1&a[b]=2", "both a value and a group"),
        (b"a[b]=2&a=1", "both a value and a group"),
        (b"a[]=1&a[b]=2", "both a value and a group"),
        (b"a=1&a[]=2", "both a value and a group or list"),
        (b"a[]=2&a=1", "both a value and a group or list"),  # accepted before #30 item 12
        (b"a[][][b]=1", "more than one list"),
        (b"\xff=1", "not UTF-8"),
        (b"a=%ff", "not UTF-8"),
        ("a" + "[x]" * (MAX_BRACKETS + 1) + "=1", "deeper than"),
        ("x" * 257 + "=1", "longer than"),
        ("&".join(f"f{n}=1" for n in range(MAX_FIELDS + 1)), f"more than {MAX_FIELDS} fields"),
    ],
)
def test_hostile_or_ambiguous_forms_are_refused_with_a_reason(body: bytes | str, why: str) -> None:
    raw = body.encode() if isinstance(body, str) else body
    with pytest.raises(InvalidForm, match=why):
        parse_form(raw)


def test_the_limits_themselves_are_accepted() -> None:
    deepest = "a" + "[x]" * MAX_BRACKETS + "=1"
    assert parse_form(deepest.encode())["a"]["x"]["x"]
    assert len(parse_form("&".join(f"f{n}=1" for n in range(MAX_FIELDS)).encode())) == MAX_FIELDS


plain = st.text(st.characters(codec="utf-8", exclude_characters="[]"), min_size=1, max_size=10)


@given(pairs=st.lists(st.tuples(plain, st.text(max_size=10)), max_size=20))
def test_plain_names_read_back_as_sent(pairs: list[tuple[str, str]]) -> None:
    """urlencode, then parse: every name comes back with the last value sent for it."""
    assert parse_form(urlencode(pairs).encode()) == dict(pairs)


bracketed = st.builds(
    lambda keys: "a" + "".join(f"[{key}]" for key in keys),
    st.lists(st.sampled_from(["", "x", "y"]), max_size=3),
)
forms = st.lists(st.tuples(bracketed, st.sampled_from(["1", "2"])), min_size=2, max_size=6)


@example([("a", "1"), ("a[]", "2")])  # accepted one way round before #30 item 12
@example([("a[][x]", "1"), ("a[][x][y]", "2")])
@example([("a[]", "1"), ("a[][x]", "1")])
@given(forms)
def test_whether_a_form_is_refused_never_depends_on_the_order_of_its_fields(
    pairs: list[tuple[str, str]],
) -> None:
    refused = _refused(pairs)
    assert refused == _refused(pairs[::-1]), pairs
    assert refused == _refused(pairs[1:] + pairs[:1]), pairs


def _refused(pairs: list[tuple[str, str]]) -> bool:
    try:
        parse_form(urlencode(pairs).encode())
    except InvalidForm:
        return True
    return False


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for child in value.values() for leaf in _leaves(child)]
    if isinstance(value, list):
        return [leaf for child in value for leaf in _leaves(child)]
    return [value]


@given(st.binary(max_size=300) | st.text(alphabet="ab[]=&%5B%5D", max_size=60).map(str.encode))
def test_any_bytes_are_strings_in_objects_and_lists_or_refused_as_a_form(body: bytes) -> None:
    """Never another exception (that would be a 503 for the sender's bad body)."""
    try:
        form = parse_form(body)
    except InvalidForm:
        return
    assert all(isinstance(leaf, str) for leaf in _leaves(form))


@pytest.mark.parametrize(
    ("configured", "content_type", "expected"),
    [
        ("auto", "application/x-www-form-urlencoded; charset=UTF-8", "form"),
        ("auto", "Application/X-WWW-Form-Urlencoded", "form"),
        ("auto", "text/xml; charset=utf-8", "xml"),
        ("auto", "application/json", "json"),
        ("auto", None, "json"),
        ("form", "application/json", "form"),  # a source that says form reads form
        ("json", "application/x-www-form-urlencoded", "json"),
    ],
)
def test_auto_reads_the_content_type(
    configured: str, content_type: str | None, expected: str
) -> None:
    assert format_for(configured, content_type) == expected  # type: ignore[arg-type]


def test_parse_body_reads_forms() -> None:
    assert parse_body(b"type=subscribe", "form") == {"type": "subscribe"}
