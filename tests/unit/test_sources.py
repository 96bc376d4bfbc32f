"""Sources file loading: the example loads; every error names the source and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skipcall_bridge.errors import ConfigurationError
from skipcall_bridge.sources import load_sources, parse_sources

ROOT = Path(__file__).resolve().parents[2]


def valid_source(**overrides: Any) -> dict[str, Any]:
    source: dict[str, Any] = {
        "auth": {"scheme": "bearer", "secretId": "skipcall-bridge/sources/zap"},
        "sequence": {"name": "{{ name }}", "creatorId": "c", "assignedToIds": ["a"]},
    }
    source.update(overrides)
    return source


def problems(sources: dict[str, Any]) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_sources(json.dumps({"sources": sources}))
    return str(caught.value)


def test_the_example_file_loads_with_a_preset_per_sender() -> None:
    catalog = load_sources(ROOT / "sources.example.json")
    assert catalog.names == [
        "attio", "close", "hubspot", "hubspot-workflow", "make", "n8n", "pipedrive",
        "salesforce", "salesforce-flow", "zapier",
    ]  # fmt: skip
    assert "skipcall-bridge/sources/hubspot" in catalog.secret_ids()  # shared by two sources
    budgets = {
        name: source.budget_seconds for name in catalog.names if (source := catalog.get(name))
    }
    assert budgets["hubspot"] == 4  # HubSpot webhooks give up after 5 s
    assert budgets["hubspot-workflow"] == budgets["salesforce"] == 20
    assert budgets["pipedrive"] == 8  # Pipedrive allows 10 s
    assert budgets["zapier"] == 4  # the default


def test_a_source_without_auth_is_refused() -> None:
    source = valid_source()
    del source["auth"]
    assert "sources.zap.auth: Field required" in problems({"zap": source})


@pytest.mark.parametrize("scheme", ["none", "", "oauth"])
def test_unknown_schemes_are_refused(scheme: str) -> None:
    message = problems({"zap": valid_source(auth={"scheme": scheme, "secretId": "s"})})
    assert "sources.zap.auth" in message
    assert "bearer" in message  # the valid schemes are listed


def test_errors_drop_the_union_tag_from_the_path() -> None:
    message = problems({"zap": valid_source(auth={"scheme": "hmac-sha256", "encoding": "hex"})})
    assert "sources.zap.auth.secretId: Field required" in message


def test_unknown_sequence_fields_are_refused() -> None:
    sequence = {"name": "n", "creatorId": "c", "assignedToIds": ["a"], "owner": "x"}
    assert "sources.zap.sequence.owner" in problems({"zap": valid_source(sequence=sequence)})


def test_bad_templates_are_reported_at_load() -> None:
    sequence = {"name": "{{ a[ }}", "creatorId": "c", "assignedToIds": ["a"]}
    message = problems({"zap": valid_source(sequence=sequence)})
    assert "sources.zap.sequence.name" in message
    assert "invalid JMESPath" in message


def test_bad_events_expressions_are_reported_at_load() -> None:
    assert "sources.zap.events" in problems({"zap": valid_source(events="[*")})


@pytest.mark.parametrize("name", ["Zapier", "with space", "-x", "a" * 65])
def test_source_names_must_be_url_safe(name: str) -> None:
    assert f"sources.{name}" in problems({name: valid_source()})


def test_budget_is_bounded_by_the_function_timeout() -> None:
    assert "sources.zap.budgetSeconds" in problems({"zap": valid_source(budgetSeconds=60)})


def test_unreadable_and_invalid_files_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_sources(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_sources(broken)
