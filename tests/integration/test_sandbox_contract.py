"""The sandbox enforces Skipcall's published contract for the contacts of a sequence strictly,
so that a client which passes against it sends what the docs say: POST and DELETE take a JSON
array of 1-100 items, well-formed ids, an active assignee; an unknown sequence is 404; both are
idempotent; removal is a soft delete and a re-added contact keeps its first assignee; GET lists
the active contacts page by page."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import urllib3

from skipcall_bridge_dev.sandbox import (
    DEACTIVATED_MEMBER,
    WORKSPACE_ID,
    SkipcallSandbox,
    workspace_membership_id,
)

from .conftest import API_KEY, CREATOR, REP, Receiver


def call(sandbox: SkipcallSandbox, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = urllib3.request(
        method,
        sandbox.url + path,
        body=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    return response.status, json.loads(response.data)


@pytest.fixture
def sequence_id(receiver: Receiver) -> str:
    dto = {"name": "S", "creatorId": CREATOR, "assignedToIds": [CREATOR, REP]}
    status, created = call(receiver.sandbox, "POST", "/v1/sequences", dto)
    assert status == 201
    return str(created["id"])


def contacts(sandbox: SkipcallSandbox, count: int) -> list[str]:
    made = []
    for n in range(count):
        body = {"firstName": f"C{n}", "lastName": "X", "phoneNumbers": ["+33612345678"]}
        status, contact = call(sandbox, "POST", "/v1/contacts", body)
        assert status == 201
        made.append(contact["id"])
    return made


@pytest.mark.parametrize(
    ("method", "body", "words"),
    [
        ("POST", [], "between 1 and 100"),
        ("POST", [{"contactId": str(uuid.uuid4())}] * 101, "between 1 and 100"),
        ("POST", {"contacts": [{"contactId": str(uuid.uuid4())}]}, "JSON array"),
        ("POST", [{"contactId": "17"}], "must be a UUID"),
        ("POST", [{"contactId": str(uuid.uuid4()), "extra": 1}], "should not exist"),
        ("POST", [{"contactId": str(uuid.uuid4()),
                   "assignedToWorkspaceMembershipId": DEACTIVATED_MEMBER}], "not an active member"),
        ("POST", [{"contactId": str(uuid.uuid4()), "assignedToWorkspaceMembershipId": CREATOR}],
         "not an active member"),  # an organization membership id is not a workspace one
        ("DELETE", [], "between 1 and 100"),
        ("DELETE", ["not-a-uuid"], "must be a UUID"),
        ("DELETE", {"contactIds": [str(uuid.uuid4())]}, "JSON array"),
    ],
)  # fmt: skip
def test_bodies_outside_the_contract_are_400(
    receiver: Receiver, sequence_id: str, method: str, body: Any, words: str
) -> None:
    status, answer = call(receiver.sandbox, method, f"/v1/sequences/{sequence_id}/contacts", body)
    assert status == 400
    assert words in answer["error"]["message"]


def test_an_unknown_sequence_is_404(receiver: Receiver) -> None:
    path = f"/v1/sequences/{uuid.uuid4()}/contacts"
    tries = [("POST", [{"contactId": str(uuid.uuid4())}]), ("DELETE", [str(uuid.uuid4())])]
    for method, body in [*tries, ("GET", None)]:
        assert call(receiver.sandbox, method, path, body)[0] == 404


def test_enrolment_is_idempotent_soft_deleted_and_resurrected(
    receiver: Receiver, sequence_id: str
) -> None:
    sandbox = receiver.sandbox
    a, b, c = contacts(sandbox, 3)
    path = f"/v1/sequences/{sequence_id}/contacts"
    rep = workspace_membership_id(REP)
    assert call(sandbox, "POST", path, [{"contactId": a, "assignedToWorkspaceMembershipId": rep},
                                        {"contactId": b}, {"contactId": b}])[0] == 201  # fmt: skip
    assert (
        call(sandbox, "POST", path, [{"contactId": a}, {"contactId": str(uuid.uuid4())}])[0] == 201
    )
    assert sandbox.enrolled(sequence_id) == [a, b]  # again, or out of scope: ignored
    assert call(sandbox, "DELETE", path, [a, c])[0] == 200  # c was never in: ignored
    assert sandbox.enrolled(sequence_id) == [b]
    again = [{"contactId": a, "assignedToWorkspaceMembershipId": workspace_membership_id(CREATOR)}]
    assert call(sandbox, "POST", path, again)[0] == 201
    status, page = call(sandbox, "GET", f"{path}?page=0&size=100")
    assert status == 200
    listed = {item["contactId"]: item["assignedToWorkspaceMembershipId"] for item in page["data"]}
    assert listed[a] == rep  # resurrected with its first assignee
    assert listed[b] == workspace_membership_id(CREATOR)  # round-robin: the least loaded


def test_the_contacts_of_a_sequence_are_listed_page_by_page(
    receiver: Receiver, sequence_id: str
) -> None:
    sandbox = receiver.sandbox
    made = contacts(sandbox, 15)
    path = f"/v1/sequences/{sequence_id}/contacts"
    assert call(sandbox, "POST", path, [{"contactId": c} for c in made])[0] == 201
    first = call(sandbox, "GET", path)[1]  # the default page size is 10
    second = call(sandbox, "GET", f"{path}?page=1&size=10")[1]
    assert [i["contactId"] for i in first["data"] + second["data"]] == made
    assert first["meta"]["total"] == 15
    assert call(sandbox, "GET", f"{path}?size=101")[0] == 400


def test_workspaces_list_members_of_every_status(receiver: Receiver) -> None:
    status, workspaces = call(receiver.sandbox, "GET", "/v1/workspaces")
    assert status == 200
    assert [w["id"] for w in workspaces["data"]] == [WORKSPACE_ID]
    members = call(receiver.sandbox, "GET", f"/v1/workspaces/{WORKSPACE_ID}/members?size=100")[1]
    statuses = {m["id"]: m["status"] for m in members["data"]}
    assert statuses[workspace_membership_id(CREATOR)] == "ACTIVE"
    assert statuses[DEACTIVATED_MEMBER] == "DEACTIVATED"
    assert call(receiver.sandbox, "GET", f"/v1/workspaces/{uuid.uuid4()}/members")[0] == 404
