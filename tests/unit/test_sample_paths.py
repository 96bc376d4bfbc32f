"""check-config's sample check (#23 item 5): a template path that no sample event has is a
warning, so `data.atributes.firstName` no longer creates "Unknown Turing" silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skipcall_bridge.cli.main import main
from skipcall_bridge.cli.sample_paths import expression_paths, sample_events, unmatched
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.parsing import parse_sources

# Outreach's JSON:API shape: a prospect under data.attributes
PROSPECT = {"data": {"type": "prospect", "id": 1, "attributes": {
    "firstName": "Alan", "lastName": "Turing", "mobilePhones": ["+44 20 7946 0018"],
    "emails": ["alan@example.com"]}}}  # fmt: skip
CREATOR = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"


def outreach(first_name: str) -> dict[str, object]:
    return {"sources": {"outreach": {
        "auth": {"scheme": "bearer", "secretId": "outreach"},
        "action": "enrol", "target": {"name": "Outreach inbound"},
        "contact": {"id": "data.id", "firstName": first_name,
                    "lastName": "data.attributes.lastName",
                    "phones": "data.attributes.mobilePhones"},
        "contactIds": "{{ [contact(@)] }}",
        "sequence": {"creatorId": CREATOR, "assignedToIds": [CREATOR]},
    }}}  # fmt: skip


def source(config: dict[str, object]):  # type: ignore[no-untyped-def]
    found = SourceCatalog.from_config(parse_sources(json.dumps(config))).get("outreach")
    assert found is not None
    return found


def test_a_typo_in_the_contact_map_is_named() -> None:
    typo = source(outreach("data.atributes.firstName"))
    warnings = unmatched(typo, [PROSPECT])
    assert warnings == [
        "contact.firstName: `data.atributes.firstName` matches nothing in the sample events "
        "(a typo, or a field these samples lack)"
    ]
    assert unmatched(source(outreach("data.attributes.firstName")), [PROSPECT]) == []


@pytest.mark.parametrize(
    ("expression", "paths"),
    [
        ("data.attributes.firstName", [("data", "attributes", "firstName")]),
        ("join(' ', [first, last || 'x'])", [("first",), ("last",)]),
        ("data.contacts[0].name", [("data", "contacts"), ("name",)]),
        ("action || null", [("action",)]),  # bare null is a field read as null: not a typo
        ("not [valid", []),
    ],
)
def test_paths_are_read_from_the_syntax_tree(expression: str, paths: list[tuple[str, ...]]) -> None:
    assert expression_paths(expression) == paths


def test_check_config_reads_samples_and_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps(outreach("data.atributes.firstName")))
    sample = tmp_path / "prospect.json"
    sample.write_text(json.dumps(PROSPECT))
    code = main(["check-config", str(sources), "--samples", str(tmp_path / "none"),
                 "--sample", f"outreach={sample}"])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: outreach: contact.firstName: `data.atributes.firstName` matches nothing" in err
    # an API Gateway event, as events/ holds them, is read through its body
    event = {"version": "2.0", "body": json.dumps(PROSPECT), "isBase64Encoded": False,
             "headers": {"content-type": "application/json"}}  # fmt: skip
    assert sample_events(source(outreach("x")), json.dumps(event).encode()) == [PROSPECT]


def test_a_template_a_brace_short_is_an_error_and_every_error_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = outreach("data.attributes.firstName")
    broken = json.loads(json.dumps(config))
    broken["sources"]["outreach"]["target"] = {"name": "{{ 'Outreach inbound' }"}
    broken["sources"]["other"] = {"auth": {"scheme": "bearer"}, "sequence": {"name": "{{ x "}}
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps(broken))
    assert main(["check-config", str(sources)]) == 2
    err = capsys.readouterr().err
    assert "sources.outreach.target: Value error, unbalanced braces" in err
    assert "sources.other.auth.secretId: Field required" in err
    assert "sources.other.sequence.name: Value error, unbalanced braces" in err
