"""#30 item 8, one person and two contacts: a form source keyed its contacts on the default
`id`, the submission's own, so every submission made a new Skipcall contact. `check-config`
and `preview` warn of a contact id that holds another value in each sample of one person, or is
named like an event's id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skipcall_bridge.cli.main import main
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.contact_keys import contact_key_warnings
from skipcall_bridge.sources.parsing import parse_sources

ADA = {"email": "ada@example.com", "phone": "+14155550100", "name": "Ada Lovelace"}


def form_source(**overrides: Any) -> dict[str, Any]:
    return {
        "auth": {"scheme": "bearer", "secretId": "forms"},
        "action": "enrol",
        "target": {"id": "0b6f3f0e-8d0c-4f7e-9a51-3c2f1b9e7a10"},
        "contactIds": "{{ [contact(@)] }}",
        **overrides,
    }


def warnings(config: dict[str, Any], events: list[Any]) -> list[str]:
    catalog = SourceCatalog.from_config(parse_sources(json.dumps({"sources": {"forms": config}})))
    source = catalog.get("forms")
    assert source is not None
    return contact_key_warnings(source, events)


def test_one_person_s_submissions_with_their_own_ids_are_warned_of() -> None:
    said = warnings(form_source(), [{**ADA, "id": "sub_1"}, {**ADA, "id": "sub_2"}])
    assert len(said) == 1
    assert "the samples of one person (ada@example.com) hold 2 different values" in said[0]
    assert '"contact": {"id": "email"}' in said[0]


def test_a_contact_keyed_on_the_person_is_not() -> None:
    keyed = form_source(contact={"id": "email"})
    assert warnings(keyed, [{**ADA, "id": "sub_1"}, {**ADA, "id": "sub_2"}]) == []
    # a CRM's person webhook: `id` is the person's, the same in every event about them
    assert warnings(form_source(), [{**ADA, "id": "p-7"}, {**ADA, "id": "p-7"}]) == []
    # two people, two ids: as it should be
    grace = {**ADA, "email": "grace@example.com", "phone": "+14155550101", "id": "sub_2"}
    assert warnings(form_source(), [{**ADA, "id": "sub_1"}, grace]) == []


@pytest.mark.parametrize("path", ["submission_id", "data.eventId", "entry_id", "responseId"])
def test_a_contact_id_named_like_an_event_s_is_warned_of_without_samples(path: str) -> None:
    [said] = warnings(form_source(contact={"id": path}), [])
    assert f"contact.id reads `{path}`, named like an event's id" in said


def test_the_event_s_own_delivery_id_read_by_contact_on_the_event_is_warned_of() -> None:
    [said] = warnings(form_source(deliveryId="id"), [])
    assert "the event's deliveryId" in said
    # `&contact(@)` maps each item of a list: its `id` is the item's, not the event's
    per_item = form_source(deliveryId="id", contactIds="{{ map(&contact(@), people) }}")
    assert warnings(per_item, []) == []


def test_a_source_that_never_calls_contact_is_not_warned_of() -> None:
    plain = {"auth": {"scheme": "bearer", "secretId": "forms"},
             "sequence": {"name": "{{ name }}", "creatorId": "c", "assignedToIds": ["c"]},
             "contact": {"id": "submission_id"}}  # fmt: skip
    assert warnings(plain, [{**ADA, "id": "sub_1"}, {**ADA, "id": "sub_2"}]) == []


def test_check_config_warns_from_the_samples_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = tmp_path / "forms.json"
    sources.write_text(json.dumps({"sources": {"forms": form_source()}}))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps({**ADA, "id": "sub_1"}))
    second.write_text(json.dumps({**ADA, "id": "sub_2"}))
    assert main(["check-config", str(sources), "--samples", str(tmp_path / "none"),
                 "--sample", f"forms={first}", "--sample", f"forms={second}"]) == 0  # fmt: skip
    assert "warning: forms: contact.id reads `id`: the samples of one person" in (
        capsys.readouterr().err
    )
