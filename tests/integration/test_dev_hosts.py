"""Security review #28, finding 7: the development servers answer only requests addressed to
this machine by a local name (a page whose DNS name was rebound to 127.0.0.1 reads nothing and
sends nothing), and the sandbox's controls ask for the inspector's token."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import urllib3

from skipcall_bridge_dev import devdata
from skipcall_bridge_dev.gateway import LocalGateway
from skipcall_bridge_dev.http_server import host_name
from skipcall_bridge_dev.moto_stack import MotoServer
from skipcall_bridge_dev.sandbox import SkipcallSandbox

FORGED = "rebound.attacker.example:4566"


@pytest.fixture
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


def test_moto_refuses_a_request_addressed_by_another_name(moto: MotoServer) -> None:
    sqs = moto.client("sqs")
    sqs.create_queue(QueueName="work")  # boto3 addresses it as 127.0.0.1: answered
    forged = urllib3.request(
        "POST", moto.url + "/", body=b"Action=ListQueues", headers={"Host": FORGED}
    )
    assert forged.status == 421
    for local in ("localhost", "127.0.0.1", "host.docker.internal"):
        port = moto.url.rsplit(":", 1)[1]
        answer = urllib3.request("POST", moto.url + "/", body=b"Action=ListQueues",
                                 headers={"Host": f"{local}:{port}"})  # fmt: skip
        assert answer.status != 421


def test_the_sandbox_and_the_gateway_refuse_another_name_and_control_needs_the_token() -> None:
    sandbox = SkipcallSandbox({"k"}, devdata.MEMBERS, control_token="tok-1").start()
    gateway = LocalGateway(lambda event, context: {"statusCode": 200, "body": "{}"}, port=0).start()
    try:
        for url in (sandbox.url + "/_sandbox/state", gateway.url + "/health"):
            assert urllib3.request("GET", url).status == 200
            assert urllib3.request("GET", url, headers={"Host": FORGED}).status == 421
        fault = json.dumps({"kind": "status", "status": 503}).encode()
        control = sandbox.url + "/_sandbox/faults"
        assert urllib3.request("POST", control, body=fault).status == 403
        wrong = {"X-Inspector-Token": "guess"}
        assert urllib3.request("POST", control, body=fault, headers=wrong).status == 403
        assert list(sandbox.state.faults) == []
        right = {"X-Inspector-Token": "tok-1"}
        assert urllib3.request("POST", control, body=fault, headers=right).status == 200
        assert len(sandbox.state.faults) == 1
    finally:
        gateway.stop()
        sandbox.stop()


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:3000", "127.0.0.1"), ("[::1]:3000", "::1"), ("LocalHost.", "localhost"),
     ("localhost", "localhost"), (FORGED, "rebound.attacker.example")],
)  # fmt: skip
def test_the_name_a_host_header_gives(header: str, name: str) -> None:
    assert host_name(header) == name
