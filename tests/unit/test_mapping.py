"""Templates and the sequence mapper: the rules of docs/sources.md "Templates", and properties."""

from __future__ import annotations

import json
from typing import Any

import jmespath
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skipcall_bridge.sources.mapping import SequenceMapper
from skipcall_bridge.sources.templates import (
    EventMappingError,
    EventSelector,
    TemplateSyntaxError,
    compile_template,
)

CREATOR = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)
# No braces: text next to a placeholder must not form new `{{` / `}}` delimiters.
plain_text = st.text(st.characters(blacklist_characters="{}"), max_size=30)


@given(value=json_values)
def test_a_lone_placeholder_keeps_the_json_type(value: Any) -> None:
    assert compile_template("{{ v }}")({"v": value}) == value


@given(prefix=plain_text, suffix=plain_text, value=json_values)
def test_text_around_placeholders_always_makes_a_string(
    prefix: str, suffix: str, value: Any
) -> None:
    if not prefix and not suffix:
        return  # that is a lone placeholder, covered above
    rendered = compile_template(f"{prefix}{{{{ v }}}}{suffix}")({"v": value})
    assert isinstance(rendered, str)
    assert rendered.startswith(prefix)
    assert rendered.endswith(suffix)


@given(constant=json_values.filter(lambda v: not isinstance(v, str)) | plain_text)
def test_values_without_placeholders_are_constants(constant: Any) -> None:
    assert compile_template(constant)({"anything": 1}) == constant


def test_interpolation_renders_nulls_as_empty_and_json_compactly() -> None:
    template = compile_template("HubSpot {{ kind }} {{ id }} {{ missing }}{{ tags }}")
    assert template({"kind": "contact.creation", "id": 123, "tags": ["a"]}) == (
        'HubSpot contact.creation 123 ["a"]'
    )


def test_defaults_and_literals() -> None:
    assert compile_template("{{ owner || 'fallback' }}")({}) == "fallback"
    assert compile_template("{{ contacts || `[]` }}")({}) == []


def test_powertools_json_decodes_a_json_string_field() -> None:
    event = {"payload": json.dumps({"name": "Inner"})}
    assert compile_template("{{ powertools_json(payload).name }}")(event) == "Inner"


@pytest.mark.parametrize("bad", ["{{ }}", "{{ a[ }}", "x {{ ]] }}"])
def test_templates_that_cannot_compile_are_refused(bad: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        compile_template(bad)


MAPPER = SequenceMapper(
    {
        "name": "Call {{ firstName }}",
        "creatorId": "{{ ownerId }}",
        "assignedToIds": "{{ owners || ownerId }}",
        "contactIds": "{{ contactIds }}",
    }
)


def test_maps_one_event_to_a_dto() -> None:
    dto = MAPPER.map({"firstName": "Ada", "ownerId": CREATOR, "contactIds": ["c1"]})
    assert dto.to_json() == {
        "name": "Call Ada",
        "creatorId": CREATOR,
        "assignedToIds": [CREATOR],  # one id is wrapped into a list
        "contactIds": ["c1"],
    }


@pytest.mark.parametrize("contacts", [None, []])
def test_empty_contact_ids_are_omitted(contacts: Any) -> None:
    dto = MAPPER.map({"firstName": "Ada", "ownerId": CREATOR, "contactIds": contacts})
    assert "contactIds" not in dto.to_json()


def test_a_gzip_field_inflates_but_never_past_its_bound() -> None:
    """#22 finding 16: 244 KB of base64 once inflated to 2.2 GB in 22.8 s. Past the bound the
    event is a mapping failure, found after inflating the bound, not the whole bomb."""
    import base64
    import gzip

    from skipcall_bridge.sources.templates import MAX_INFLATED_BYTES

    def packed(data: bytes) -> str:
        return base64.b64encode(gzip.compress(data, compresslevel=9)).decode()

    name = compile_template("{{ powertools_json(powertools_base64_gzip(p)).name }}")
    assert name({"p": packed(b'{"name": "Inner"}')}) == "Inner"
    mapper = SequenceMapper({
        "name": "{{ powertools_base64_gzip(p) }}", "creatorId": CREATOR, "assignedToIds": CREATOR
    })  # fmt: skip
    bomb = packed(b"0" * (MAX_INFLATED_BYTES + 1))  # ~10 KB that inflates past the bound
    with pytest.raises(EventMappingError) as caught:
        mapper.map({"p": bomb})
    [error] = caught.value.errors
    assert error.field == "name"
    assert "inflates past" in error.message


def test_an_event_s_inflation_is_bounded_in_all_not_per_call() -> None:
    """Security review #28, finding 8: over a projection, each call had its own bound, and a
    245 KB body inflated to 188 MB. Three parts of 4 MB each pass one at a time; together they
    are past the event's bound."""
    import base64
    import gzip

    from skipcall_bridge.sources.mapping import ActionMapper
    from skipcall_bridge.sources.templates import MAX_INFLATED_BYTES

    part = base64.b64encode(gzip.compress(b"0" * (4 * 1024 * 1024), compresslevel=9)).decode()
    assert MAX_INFLATED_BYTES < 3 * 4 * 1024 * 1024
    sequence = {"name": "{{ to_string(length(join('', parts[*].powertools_base64_gzip(@)))) }}",
                "creatorId": CREATOR, "assignedToIds": CREATOR}  # fmt: skip
    mapper = ActionMapper("create", sequence)
    assert mapper.map({"parts": [part, part]}) is not None  # 8 MB in all: within the bound
    with pytest.raises(EventMappingError) as caught:
        mapper.map({"parts": [part, part, part]})
    assert "inflates past" in caught.value.errors[0].message
    # the bound is the event's: the next event has its own
    assert mapper.map({"parts": [part, part]}) is not None


def test_missing_required_fields_are_listed_by_name() -> None:
    with pytest.raises(EventMappingError) as caught:
        MAPPER.map({"firstName": "Ada"})
    assert {error.field for error in caught.value.errors} == {"creatorId", "assignedToIds"}


def test_types_are_strict_a_crm_number_is_not_a_membership_id() -> None:
    with pytest.raises(EventMappingError) as caught:
        MAPPER.map({"firstName": "Ada", "ownerId": 12345})
    assert "creatorId" in {error.field for error in caught.value.errors}


def test_expression_errors_name_the_field() -> None:
    mapper = SequenceMapper({"name": "{{ length(n) }}", "creatorId": "x", "assignedToIds": "y"})
    with pytest.raises(EventMappingError) as caught:
        mapper.map({"n": 5})
    assert caught.value.errors[0].field == "name"


class TestEventSelector:
    def test_absent_means_the_whole_body_is_one_event(self) -> None:
        assert EventSelector(None).select({"a": 1}) == [{"a": 1}]

    def test_selects_a_list(self) -> None:
        assert EventSelector("leads").select({"leads": [1, 2]}) == [1, 2]

    def test_a_single_object_is_one_event(self) -> None:
        assert EventSelector("lead").select({"lead": {"x": 1}}) == [{"x": 1}]

    @pytest.mark.parametrize("payload", [{}, {"leads": []}, {"leads": None}])
    def test_nothing_selected_is_no_events(self, payload: Any) -> None:
        assert EventSelector("leads").select(payload) == []

    @pytest.mark.parametrize("expression", ["abs(leads)", "powertools_json(leads)"])
    def test_a_failing_selection_is_a_mapping_error(self, expression: str) -> None:
        with pytest.raises(EventMappingError) as caught:
            EventSelector(expression).select({"leads": "not json"})
        assert caught.value.errors[0].field == "events"


paths = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4).map(".".join)
documents = st.recursive(
    st.none() | st.integers() | st.text(max_size=3) | st.lists(st.integers(), max_size=2),
    lambda children: st.dictionaries(st.sampled_from(["a", "b", "c"]), children, max_size=3),
    max_leaves=12,
)


@given(path=paths, document=documents)
def test_plain_paths_mean_exactly_what_jmespath_says(path: str, document: Any) -> None:
    """Plain paths take a shortcut; it must agree with jmespath on every document."""
    assert compile_template(f"{{{{ {path} }}}}")(document) == jmespath.search(path, document)


class TestErrorsThatTeach:
    mapper = SequenceMapper({"name": "{{ data.titel }}", "creatorId": "{{ data.owner_id }}",
                             "assignedToIds": "{{ data.owner_id }}"})  # fmt: skip

    def errors(self, event: Any) -> dict[str, str]:
        with pytest.raises(EventMappingError) as caught:
            self.mapper.map(event)
        return {error.field: error.message for error in caught.value.errors}

    def test_a_null_names_the_template_and_what_the_event_has(self) -> None:
        errors = self.errors({"data": {"id": 1, "title": "Deal", "owner_id": "m-1"}})
        assert errors == {"name": '"{{ data.titel }}" rendered null; data has: id, title, owner_id'}

    def test_a_missing_parent_is_named_too(self) -> None:
        errors = self.errors({"current": {"title": "Deal"}})
        assert errors["name"].endswith("the event has: current")

    def test_a_crm_owner_id_is_told_to_use_member(self) -> None:
        errors = self.errors({"data": {"titel": "Deal", "owner_id": 17}})
        assert errors["creatorId"].startswith("got 17 (a number);")
        assert "member()" in errors["creatorId"]
        assert "member()" in errors["assignedToIds"]

    def test_a_field_with_no_template_says_where_to_add_it(self) -> None:
        mapper = SequenceMapper({"name": "x", "assignedToIds": ["a"]})
        with pytest.raises(EventMappingError) as caught:
            mapper.map({})
        (error,) = caught.value.errors
        assert (error.field, error.message) == (
            "creatorId",
            "Field required: add it to the source's `sequence`",
        )
