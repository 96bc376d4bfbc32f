"""#30 item 9: the operator's verbs against a deployed stack by its name (`--stack NAME`), its
outputs and parameters read from CloudFormation (moto's), and the go-live check
`check-deploy`: every source's secret in place and of its scheme's shape, the API key
answering Skipcall (the sandbox), no value printed."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skipcall_bridge.cli.main import main
from skipcall_bridge.cli.options import deployed_region
from skipcall_bridge.common.observability import logger
from skipcall_bridge.runtime import current_runtime

from .conftest import API_KEY, BEARER_TOKEN, EVENT, MEMBERS, Receiver

STACK = "it-bridge"
REGION = "us-east-1"
# The resources and outputs of template.yaml the verbs read (SAM's own resources aside).
TEMPLATE = {
    # moto's CloudFormation makes no secrets: the API key's is made beside it, and passed in
    "Parameters": {"SkipcallApiUrl": {"Type": "String"}, "ApiKeySecret": {"Type": "String"}},
    "Resources": {
        "DeadLetterQueue": {"Type": "AWS::SQS::Queue"},
        "WorkQueue": {"Type": "AWS::SQS::Queue"},
        "IdempotencyTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST"}},
        "ContactLinksTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST"}},
    },
    "Outputs": {
        "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
        "WorkQueueUrl": {"Value": {"Ref": "WorkQueue"}},
        "IdempotencyTableName": {"Value": {"Ref": "IdempotencyTable"}},
        "ContactLinksTableName": {"Value": {"Ref": "ContactLinksTable"}},
        "ApiKeySecretArn": {"Value": {"Ref": "ApiKeySecret"}},
    },
}  # fmt: skip
# Set by hand before: --stack stands for all of them.
BY_HAND = ("DEAD_LETTER_QUEUE_URL", "WORK_QUEUE_URL", "IDEMPOTENCY_TABLE", "LINKS_TABLE",
           "SKIPCALL_API_KEY_SECRET_ID", "SKIPCALL_API_URL", "SOURCES_CONFIG", "AWS_REGION",
           "AWS_DEFAULT_REGION")  # fmt: skip


@pytest.fixture
def deployed(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, str]]:
    key = receiver.moto.client("secretsmanager").create_secret(
        Name=f"{STACK}/api-key", SecretString=json.dumps({"apiKey": API_KEY})
    )
    cloudformation = receiver.moto.client("cloudformation")
    cloudformation.create_stack(
        StackName=STACK, TemplateBody=json.dumps(TEMPLATE),
        Parameters=[{"ParameterKey": "SkipcallApiUrl", "ParameterValue": receiver.sandbox.url},
                    {"ParameterKey": "ApiKeySecret", "ParameterValue": key["ARN"]}],
    )  # fmt: skip
    [stack] = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack["Outputs"]}
    monkeypatch.chdir(tmp_path)  # no samconfig.toml, no src/sources.json here
    level = logger.log_level
    # --stack writes the stack's variables into this process's environment, as it does for a
    # command: they must not outlive the test (monkeypatch restores only what it set)
    environment = dict(os.environ)
    yield outputs
    os.environ.clear()
    os.environ.update(environment)
    logger.setLevel(level)
    current_runtime.cache_clear()


def nothing_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's shell: none of the function's variables set (moto's endpoint aside)."""
    for name in BY_HAND:
        monkeypatch.delenv(name, raising=False)
    current_runtime.cache_clear()


def sources_file(tmp_path: Path, sources: dict[str, Any]) -> str:
    path = tmp_path / "deployed-sources.json"
    path.write_text(json.dumps({"sources": sources}))
    return str(path)


ZAPIER = {"auth": {"scheme": "bearer", "secretId": "it/zapier"},
          "sequence": {"name": "{{ name }}", "creatorId": "{{ creatorId }}",
                       "assignedToIds": "{{ assignedToIds }}"}}  # fmt: skip


def test_the_operator_s_verbs_reach_a_stack_by_its_name(
    receiver: Receiver, deployed: dict[str, str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    receiver.sandbox.inject("status", status=503, count=4)
    sqs = receiver.moto.client("sqs")
    assert receiver.bearer(EVENT).status == 202  # a letter, in the fixture's own queue
    [letter] = receiver.dead_letters()
    sqs.send_message(QueueUrl=deployed["DeadLetterQueueUrl"], MessageBody=letter["_raw"])
    capsys.readouterr()
    nothing_by_hand(monkeypatch)

    stack = ["--stack", STACK, "--region", REGION,
             "--sources", sources_file(tmp_path, {"zapier": ZAPIER})]  # fmt: skip
    assert main(["dlq", "list", *stack]) == 0
    assert letter["deliveryId"] in capsys.readouterr().out
    assert main(["dlq", *stack, "list"]) == 0  # before the verb too
    assert letter["deliveryId"] in capsys.readouterr().out

    assert main(["members", *stack]) == 0
    listed = capsys.readouterr().out
    assert all(email in listed for email in MEMBERS.values())  # the stack's key, its Skipcall

    assert main(["replay", *stack]) == 0  # Skipcall is healthy again
    assert "replayed" in capsys.readouterr().out
    assert [s["name"] for s in receiver.sandbox.sequences] == [EVENT["name"]]


def test_a_stack_that_is_not_there_or_not_ours_is_named(
    deployed: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    nothing_by_hand(monkeypatch)
    assert main(["dlq", "list", "--stack", "no-such-stack", "--region", REGION]) == 2
    assert "no-such-stack" in capsys.readouterr().err
    assert main(["dlq", "list", "--stack", STACK]) == 2  # no region anywhere: it asks
    assert "--region" in capsys.readouterr().err
    assert main(["dlq", "list", "--stack", STACK, "--dev"]) == 2
    assert "not both" in capsys.readouterr().err


def test_check_deploy_names_each_missing_or_misshapen_secret_and_prints_no_value(
    receiver: Receiver, deployed: dict[str, str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    nothing_by_hand(monkeypatch)
    secrets = receiver.moto.client("secretsmanager")
    secrets.create_secret(Name="it/short", SecretString="short-key")
    secrets.create_secret(Name="it/not-hex", SecretString="not hex at all, but long enough")
    hmac = {"scheme": "hmac", "algorithm": "sha256", "keyEncoding": "hex",
            "signature": {"header": "X-Sig"}, "signed": "{body}"}  # fmt: skip
    sources = {
        "zapier": ZAPIER,
        "short": {**ZAPIER, "auth": {"scheme": "bearer", "secretId": "it/short"}},
        "hexed": {**ZAPIER, "auth": {**hmac, "secretId": "it/not-hex"}},
        "absent": {**ZAPIER, "auth": {"scheme": "bearer", "secretId": "it/absent"}},
    }
    stack = ["--stack", STACK, "--region", REGION]
    assert main(["check-deploy", *stack, "--sources", sources_file(tmp_path, sources)]) == 1
    out = capsys.readouterr().out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["zapier"].lstrip().startswith("ok")
    assert "FAILED" in lines["short"]
    assert "at least" in lines["short"]
    assert "FAILED" in lines["hexed"]
    assert "not hex as configured" in lines["hexed"]
    assert "FAILED" in lines["absent"]
    assert "no such secret" in lines["absent"]
    assert lines["Skipcall"].lstrip().startswith("ok")
    for value in (BEARER_TOKEN, "short-key", "not hex at all", API_KEY):
        assert value not in out

    assert main(["check-deploy", *stack,
                 "--sources", sources_file(tmp_path, {"zapier": ZAPIER})]) == 0  # fmt: skip
    assert "ready" in capsys.readouterr().out
    receiver.sandbox.state.api_keys = set()  # the key Skipcall no longer takes
    current_runtime.cache_clear()
    assert main(["check-deploy", *stack,
                 "--sources", sources_file(tmp_path, {"zapier": ZAPIER})]) == 1  # fmt: skip
    assert "FAILED   Skipcall API key" in capsys.readouterr().out


def test_the_region_is_the_one_sam_deploy_saved(tmp_path: Path) -> None:
    committed, own = tmp_path / "samconfig.toml", tmp_path / "samconfig.local.toml"
    committed.write_text('version = 0.1\n[default.deploy.parameters]\nregion = "eu-west-3"\n')
    assert deployed_region((own, committed)) == "eu-west-3"
    own.write_text('version = 0.1\n[default.global.parameters]\nregion = "ap-south-1"\n')
    assert deployed_region((own, committed)) == "ap-south-1"  # your own answers first
