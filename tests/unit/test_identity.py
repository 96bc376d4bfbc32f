"""member() and contact(): the directory cache, the members map, contacts and phone numbers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from skipcall_bridge.acting.memory_links import MemoryLinks
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.skipcall.models import CallFailed
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.directories import (
    MIN_REFRESH_SECONDS,
    DirectoryUnavailable,
    MemberDirectory,
)
from skipcall_bridge.sources.identity import ContactResolver, IdentityServices, normalise_phones
from skipcall_bridge.sources.mapping import CreateIntent
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.sources.templates import EventMappingError

NO_PHONE = "no phone number: `contact.phone`/`contact.phones` read nothing from this record"

OWNER = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeSkipcall:
    def __init__(self, users: list[Any] | CallFailed) -> None:
        self.users = users
        self.user_reads = 0
        self.created: list[dict[str, Any]] = []

    def list_users(self, deadline: Deadline) -> list[Any] | CallFailed:
        self.user_reads += 1
        return self.users

    def create_contact(self, contact: dict[str, Any], deadline: Deadline) -> str | CallFailed:
        self.created.append(contact)
        return f"contact-{len(self.created)}"


DOWN = CallFailed(
    Reason.SKIPCALL_UNAVAILABLE, True, 2, ErrorInfo(status=503, code="X", message="down")
)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("06 12 34 56 78", "FR", ["+33612345678"]),
        ("+33 6 12 34 56 78", None, ["+33612345678"]),
        ("(415) 555-0132", "US", ["+14155550132"]),
        ("06 12 34 56 78", None, []),  # national without a region: unusable
        ("not a number", "FR", []),
        ("123", "FR", []),
    ],
)
def test_phone_numbers_are_normalised_to_e164(
    raw: str, region: str | None, expected: list[str]
) -> None:
    assert normalise_phones([raw], region) == expected


def test_repeated_numbers_are_kept_once() -> None:
    assert normalise_phones(["06 12 34 56 78", "+33612345678"], "FR") == ["+33612345678"]


class TestMemberDirectory:
    def test_reads_all_users_once_then_serves_from_the_cache(self) -> None:
        skipcall = FakeSkipcall([{"email": "Owner@Example.com", "organizationMembershipId": OWNER}])
        directory = MemberDirectory(skipcall, ttl_seconds=300, clock=Clock())
        assert directory.resolve("owner@example.COM", Deadline(5)) == OWNER
        assert directory.resolve("owner@example.com", Deadline(5)) == OWNER
        assert skipcall.user_reads == 1

    def test_a_miss_refreshes_once_but_not_more_often_than_the_floor(self) -> None:
        clock = Clock()
        skipcall = FakeSkipcall([{"email": "a@example.com", "id": OWNER}])  # `id` is accepted too
        directory = MemberDirectory(skipcall, ttl_seconds=300, clock=clock)
        assert directory.resolve("a@example.com", Deadline(5)) == OWNER
        assert directory.resolve("new@example.com", Deadline(5)) is None
        assert skipcall.user_reads == 1  # just read: no second read for a miss
        clock.now += MIN_REFRESH_SECONDS
        skipcall.users = [*skipcall.users, {"email": "new@example.com", "id": "m2"}]  # type: ignore[misc]
        assert directory.resolve("new@example.com", Deadline(5)) == "m2"
        assert skipcall.user_reads == 2

    def test_the_cache_expires(self) -> None:
        clock = Clock()
        skipcall = FakeSkipcall([{"email": "a@example.com", "id": OWNER}])
        directory = MemberDirectory(skipcall, ttl_seconds=60, clock=clock)
        directory.resolve("a@example.com", Deadline(5))
        clock.now += 61
        directory.resolve("a@example.com", Deadline(5))
        assert skipcall.user_reads == 2

    def test_odd_user_items_are_ignored_and_an_outage_is_reported(self) -> None:
        skipcall = FakeSkipcall([None, {"email": 5}, {"email": "x@example.com"}, "text"])
        assert MemberDirectory(skipcall, 300).resolve("x@example.com", Deadline(5)) is None
        with pytest.raises(DirectoryUnavailable):
            MemberDirectory(FakeSkipcall(DOWN), 300).resolve("x@example.com", Deadline(5))


def source(**config: Any):  # type: ignore[no-untyped-def]
    sequence = {
        "name": "n",
        "creatorId": "{{ member(owner) }}",
        "assignedToIds": "{{ member(owner) }}",
        "contactIds": "{{ map(&contact(@), people) }}",
    }
    raw = {"auth": {"scheme": "bearer", "secretId": "s"}, "sequence": sequence, **config}
    found = SourceCatalog.from_config(parse_sources(json.dumps({"sources": {"crm": raw}}))).get(
        "crm"
    )
    assert found is not None
    return found


def map_event(src: Any, event: Any, skipcall: FakeSkipcall, links: MemoryLinks | None = None):  # type: ignore[no-untyped-def]
    services = IdentityServices(
        MemberDirectory(skipcall, 300), ContactResolver(skipcall, links or MemoryLinks())
    )
    resolution = services.resolution("crm", src.config.members, src.contact_rules, Deadline(5))
    intent = src.mapper.map(event, resolution)
    assert isinstance(intent, CreateIntent)
    return intent.dto, resolution


def test_the_members_map_wins_over_the_directory() -> None:
    skipcall = FakeSkipcall([{"email": "a@example.com", "id": "from-directory"}])
    src = source(members={"A@Example.com": OWNER, "7001": "by-owner-id"})
    dto, _ = map_event(src, {"owner": "a@example.com", "people": []}, skipcall)
    assert dto.creatorId == OWNER
    assert skipcall.user_reads == 0
    dto, _ = map_event(src, {"owner": 7001, "people": []}, skipcall)  # a CRM owner id, numeric
    assert dto.creatorId == "by-owner-id"


def test_an_unknown_member_is_a_mapping_failure_naming_them() -> None:
    src = source()
    with pytest.raises(EventMappingError) as caught:
        map_event(src, {"owner": "ghost@example.com", "people": []}, FakeSkipcall([]))
    messages = {error.field: error.message for error in caught.value.errors}
    assert "ghost@example.com" in messages["creatorId"]


def test_contacts_are_created_once_linked_and_skipped_without_a_phone() -> None:
    contact = {"id": "crmId", "name": "fullName", "phones": "phones[].number"}
    src = source(members={"o@example.com": OWNER}, defaultRegion="FR", contact=contact)
    event = {"owner": "o@example.com", "people": [
        {"crmId": 1, "fullName": "Marie Curie", "phones": [{"number": "01 23 45 67 89"}]},
        {"crmId": 2, "fullName": "No Phone", "phones": []},
    ]}  # fmt: skip
    skipcall, links = FakeSkipcall([]), MemoryLinks()
    dto, resolution = map_event(src, event, skipcall, links)
    assert dto.contactIds == ["contact-1"]
    assert skipcall.created == [
        {"firstName": "Marie", "lastName": "Curie", "phoneNumbers": ["+33123456789"]}
    ]
    assert resolution.skipped == [{"id": "2", "reason": NO_PHONE}]
    again, _ = map_event(src, event, skipcall, links)
    assert again.contactIds == ["contact-1"]
    assert len(skipcall.created) == 1  # linked under crm#1: not created twice


def test_an_alias_never_re_points_another_contact_s_link_and_aliases_are_bounded() -> None:
    """#22 finding 8: Bob's event naming Alice's CRM id as an alias re-pointed Alice's link to
    Bob (her next event reached his phone); 1,500 aliases took 9.8 s."""
    contact = {"id": "crmId", "name": "fullName", "phones": "phones", "aliases": "others"}
    src = source(members={"o@example.com": OWNER}, defaultRegion="FR", contact=contact)
    skipcall, links = FakeSkipcall([]), MemoryLinks()
    alice = {"crmId": "alice", "fullName": "Alice A", "phones": ["01 23 45 67 89"], "others": []}
    map_event(src, {"owner": "o@example.com", "people": [alice]}, skipcall, links)
    alice_contact = links.get("crm#alice")
    many = [f"deal:{n}" for n in range(1500)]
    bob = {"crmId": "bob", "fullName": "Bob B", "phones": ["01 98 76 54 32"],
           "others": ["alice", *many]}  # fmt: skip
    map_event(src, {"owner": "o@example.com", "people": [bob]}, skipcall, links)
    assert links.get("crm#alice") == alice_contact  # still Alice's
    bob_contact = links.get("crm#bob")
    assert bob_contact not in (None, alice_contact)
    linked = [alias for alias in many if links.get(f"crm#{alias}") == bob_contact]
    assert linked == many[:19]  # at most 20 aliases an event: "alice" took the first place


def test_contact_names_fall_back_to_what_skipcall_accepts() -> None:
    src = source(members={"o@example.com": OWNER}, contact={"phone": "tel"})
    skipcall = FakeSkipcall([])
    map_event(src, {"owner": "o@example.com", "people": [{"tel": "+33612345678"}]}, skipcall)
    assert skipcall.created[0]["firstName"] == "Unknown"
    assert skipcall.created[0]["lastName"] == "Contact"


def test_without_identity_services_the_functions_fail_clearly() -> None:
    with pytest.raises(EventMappingError) as caught:
        source().mapper.map({"owner": "a@example.com", "people": []})
    assert "only while an event is mapped" in caught.value.errors[0].message


# -- assignees: workspace memberships ----------------------------------------------------


class FakeWorkspaces:
    def __init__(self, members: dict[str, list[Any]]) -> None:
        self.members = members
        self.reads = 0

    def list_workspaces(self, deadline: Deadline) -> list[Any] | CallFailed:
        self.reads += 1
        return [{"id": workspace} for workspace in self.members] + ["not an object"]

    def list_workspace_members(
        self, workspace_id: str, deadline: Deadline
    ) -> list[Any] | CallFailed:
        return self.members[workspace_id]


def test_an_assignee_is_the_members_active_workspace_membership() -> None:
    from skipcall_bridge.sources.directories import IdentityError, WorkspaceDirectory

    api = FakeWorkspaces({
        "w1": [
            {"id": "wm-owner", "organizationMembershipId": OWNER, "status": "ACTIVE"},
            {"id": "wm-gone", "organizationMembershipId": "m-gone", "status": "DEACTIVATED"},
            {"id": "wm-nested", "organizationMembership": {"id": "m-nested", "email": "N@x.io"}},
        ],
        "w2": [{"id": "wm-owner-2", "user": {"email": "owner@example.com"}}],
    })  # fmt: skip
    directory = WorkspaceDirectory(api, 300)
    deadline = Deadline(5)
    assert directory.resolve("m-nested", None, None, deadline) == "wm-nested"
    assert directory.resolve("?", "n@x.io", None, deadline) == "wm-nested"  # by email, any case
    with pytest.raises(IdentityError, match="2 workspaces; set the source's workspaceId"):
        directory.resolve(OWNER, "owner@example.com", None, deadline)
    assert directory.resolve(OWNER, "owner@example.com", "w2", deadline) == "wm-owner-2"
    with pytest.raises(IdentityError, match="no active workspace membership"):
        directory.resolve("m-gone", None, None, deadline)
    assert api.reads == 1  # misses within 10 s do not read again


def test_workspaces_that_cannot_be_read_make_the_event_wait() -> None:
    from skipcall_bridge.sources.directories import DirectoryUnavailable, WorkspaceDirectory

    class Down(FakeWorkspaces):
        def list_workspaces(self, deadline: Deadline) -> list[Any] | CallFailed:
            return CallFailed(Reason.SKIPCALL_UNAVAILABLE, True, 1,
                              ErrorInfo(status=503, code="HTTP_503", message="down"))  # fmt: skip

    with pytest.raises(DirectoryUnavailable):
        WorkspaceDirectory(Down({}), 300).resolve(OWNER, None, None, Deadline(5))


def test_a_national_number_without_default_region_says_to_set_it() -> None:
    """#23 item 6: the reason names what to fix, not only that something is wrong."""
    contact = {"id": "crmId", "name": "fullName", "phones": "phones[].number"}
    src = source(members={"o@example.com": OWNER}, contact=contact)  # no defaultRegion
    event = {"owner": "o@example.com", "people": [
        {"crmId": 3, "fullName": "Irène Joliot", "phones": [{"number": "01 23 45 67 89"}]},
    ]}  # fmt: skip
    _, resolution = map_event(src, event, FakeSkipcall([]), MemoryLinks())
    (skipped,) = resolution.skipped
    assert "defaultRegion" in skipped["reason"]
    assert "01 23 45 67 89" in skipped["reason"]
