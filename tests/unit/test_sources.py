"""Sources file loading: the example loads; every error names the source and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.sources.catalog import SourceCatalog, load_sources
from skipcall_bridge.sources.parsing import parse_sources

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
        "activecampaign", "asana", "attio", "automation-enrol", "calendly", "close",
        "close-enrol", "dynamics", "highlevel", "hubspot",
        "hubspot-deals", "hubspot-enrol", "hubspot-workflow", "intercom", "keap", "mailchimp",
        "make",
        "meta-style", "monday", "n8n", "pipedrive", "pipedrive-enrol", "salesforce",
        "salesforce-flow", "sendgrid", "stripe-style", "twilio", "typeform", "zapier", "zendesk",
        "zoho",
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


@pytest.mark.parametrize("auth", ["bearer", ["bearer"], {"secretId": "s"}, {"scheme": 1}])
def test_an_auth_block_without_a_scheme_is_refused_by_name(auth: Any) -> None:
    message = problems({"zap": valid_source(auth=auth)})
    assert "sources.zap.auth: " in message
    assert "Traceback" not in message


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


def test_volatile_fields_must_be_plain_paths() -> None:
    assert "sources.zap.volatileFields" in problems({"zap": valid_source(volatileFields=["a[0]"])})
    assert "sources.zap.volatileFields" in problems({"zap": valid_source(volatileFields=["a."])})


def test_scheme_defaults_and_source_overrides() -> None:
    catalog = parse_sources(
        json.dumps(
            {
                "sources": {
                    "hs": valid_source(auth={"scheme": "hubspot", "secretId": "s"}),
                    "pd": valid_source(
                        auth={"scheme": "basic", "secretId": "s"},
                        volatileFields=["meta.sent_at"],
                        unmappedStatus=422,
                        onUnknownOutcome="retry",
                    ),
                    "zap": valid_source(),
                }
            }
        )
    )
    sources = SourceCatalog.from_config(catalog)
    hubspot, pipedrive, zapier = (sources.get(name) for name in ("hs", "pd", "zap"))
    assert hubspot is not None
    assert pipedrive is not None
    assert zapier is not None
    assert hubspot.volatile_fields == (("attemptNumber",),)
    assert hubspot.unmapped_status == 202
    assert pipedrive.volatile_fields == (("retry",), ("meta", "attempt"), ("meta", "sent_at"))
    assert pipedrive.unmapped_status == 422  # the source's own choice wins
    assert pipedrive.config.on_unknown_outcome == "retry"
    assert (zapier.volatile_fields, zapier.unmapped_status) == ((), 422)
    event = {"retry": 2, "meta": {"attempt": 3, "id": 9, "sent_at": "now"}, "data": {"x": 1}}
    assert pipedrive.fingerprint(event) == {"meta": {"id": 9}, "data": {"x": 1}}
    assert event["retry"] == 2  # the event itself is left as it was


def test_unmapped_status_is_202_or_422() -> None:
    assert "unmappedStatus" in problems({"zap": valid_source(unmappedStatus=400)})


SCHEMA_FILE = ROOT / "schema" / "sources.schema.json"


def test_the_committed_schema_is_the_models_schema() -> None:
    """`make schema` renews it; editors validate and complete sources files with it."""
    from skipcall_bridge.sources.config import json_schema

    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), "run `make schema`"


def test_every_preset_validates_against_the_schema_and_a_typo_does_not() -> None:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    example = json.loads((ROOT / "sources.example.json").read_text())
    assert example["$schema"] == "./schema/sources.schema.json"
    assert list(validator.iter_errors(example)) == []
    for name, preset in example["sources"].items():
        assert list(validator.iter_errors({"sources": {name: preset}})) == [], name
    typo = {"sources": {"zap": {**valid_source(), "sequnce": {}}}}
    assert list(validator.iter_errors(typo))
    wrong = {"sources": {"zap": valid_source(auth={"scheme": "hubspot", "secretId": "s",
                                                   "versions": ["v4"]})}}  # fmt: skip
    assert list(validator.iter_errors(wrong))


def test_check_config_warns_of_a_url_signing_source_without_a_public_url() -> None:
    """Security review #28, finding 10: without `publicUrl` or PUBLIC_BASE_URL, the URL a
    URL-signing scheme checks is the one API Gateway saw, which behind a mapping or CloudFront
    is not the one the sender signed."""
    sequence = {"name": "n", "creatorId": "c", "assignedToIds": ["c"]}
    config = {"sources": {
        "hubspot": {"auth": {"scheme": "hubspot", "secretId": "h"}, "sequence": sequence},
        "hubspot-public": {"auth": {"scheme": "hubspot", "secretId": "h"}, "sequence": sequence,
                           "publicUrl": "https://hooks.example.com/in/hubspot"},
        "twilio": {"auth": {"scheme": "twilio", "secretId": "t"}, "bodyFormat": "form",
                   "sequence": sequence},
        "signed-url": {"auth": {"scheme": "hmac", "secretId": "s",
                                "signature": {"header": "X-Sig"}, "signed": "{url}{body}"},
                       "sequence": sequence},
        "body-only": {"auth": {"scheme": "hmac", "secretId": "s",
                               "signature": {"header": "X-Sig"}, "signed": "{body}"},
                      "sequence": sequence},
        "bearer": {"auth": {"scheme": "bearer", "secretId": "b"}, "sequence": sequence},
    }}  # fmt: skip
    warned = {
        line.split(":", 1)[0]
        for line in SourceCatalog.from_config(parse_sources(json.dumps(config))).warnings()
        if "publicUrl" in line
    }
    assert warned == {"hubspot", "twilio", "signed-url"}


def test_a_field_error_and_a_source_s_own_error_are_both_named() -> None:
    """#30 item 3: pydantic skips a model's own checks once a field fails; the action is checked
    on the file as written, so both errors are named at once."""
    said = problems({"zap": valid_source(
        action="enroll", target={"name": "Leads"}, contactIds="{{ ids }}",
        sequence={"creatorId": "{{ creator ||| }}", "assignedToIds": []},
    )})  # fmt: skip
    assert "sources.zap.sequence.creatorId" in said
    assert 'action: "enroll" is not one of create, enrol, unenrol (did you mean "enrol"?)' in said


def test_a_source_s_own_errors_are_all_named() -> None:
    said = problems({"zap": valid_source(action="unenrol", assignTo="{{ owner }}", target=None)})
    assert "`target` and `contactIds` are required" in said
    assert "assignTo: only an enrol assigns contacts" in said


@pytest.mark.parametrize(
    ("change", "suggestion"),
    [
        ({"auth": {"scheme": "bearr", "secretId": "s"}}, 'did you mean "bearer"?'),
        ({"onUnknownOutcome": "retyr"}, 'did you mean "retry"?'),
        ({"bodyFormat": "jsn"}, 'did you mean "json"?'),
        ({"contactID": "{{ id }}"}, 'did you mean "contactIds"?'),
        ({"auth": {"scheme": "hmac", "secretId": "s", "algorithm": "sha265",
                   "signature": {"header": "X-Sig"}}}, 'did you mean "sha256"?'),
    ],
)  # fmt: skip
def test_a_near_miss_of_a_known_value_or_field_gets_a_did_you_mean(
    change: dict[str, Any], suggestion: str
) -> None:
    assert suggestion in problems({"zap": valid_source(**change)})


def test_a_value_far_from_every_known_one_gets_no_guess() -> None:
    said = problems({"zap": valid_source(onUnknownOutcome="sometimes")})
    assert "Input should be 'keep' or 'retry'" in said
    assert "did you mean" not in said
