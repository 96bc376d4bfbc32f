"""Enrol and unenrol, pure: the action templates, the grouping of contacts into calls, the
sequence created once by name (every way it can go wrong), and the fate of every event of a
batch of enrolments, as a property."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skipcall_bridge.acting.membership import Held, changes
from skipcall_bridge.acting.memory_links import MemoryLinks
from skipcall_bridge.acting.naming import (
    STALE_CLAIM_SECONDS,
    CreatedNotLinked,
    Resolved,
    SequenceNamer,
)
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.envelope import Target
from skipcall_bridge.common.errors import ConfigurationError, Unavailable
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.ports import NameLink
from skipcall_bridge.receive.inbound import InboundDelivery
from skipcall_bridge.receive.pipeline import Pipeline
from skipcall_bridge.receive.responses import delivery_response
from skipcall_bridge.skipcall.models import CallFailed, Created, SequenceDto
from skipcall_bridge.sources.catalog import SourceCatalog
from skipcall_bridge.sources.mapping import CreateIntent, MembershipIntent
from skipcall_bridge.sources.parsing import parse_sources
from skipcall_bridge.sources.templates import EventMappingError
from skipcall_bridge.verify import Headers, SignedRequest

from .fakes import MemoryIdempotency, RecordingDeadLetters, ScriptedSkipcall, StaticSecrets

CREATOR = "7d1f6a52-1c7e-4d4e-9a55-0f3c2b1a0001"
TOKEN = "bearer-token-for-actions"
SOURCES = {
    "sources": {
        "crm": {
            "auth": {"scheme": "bearer", "secretId": "crm"},
            "events": "events",
            "deliveryId": "id",
            "action": "{{ action }}",
            "target": {"name": "{{ sequence }}"},
            "contactIds": "{{ contacts }}",
            "sequence": {"creatorId": CREATOR, "assignedToIds": [CREATOR]},
            "budgetSeconds": 20,
        }
    }
}


# -- the templates -----------------------------------------------------------------------


def mapper(**config: Any) -> Any:
    base = {"auth": {"scheme": "bearer", "secretId": "x"}, **config}
    catalog = SourceCatalog.from_config(parse_sources(json.dumps({"sources": {"s": base}})))
    source = catalog.get("s")
    assert source is not None
    return source.mapper


ROUTED = {
    "action": "{{ stage == 'won' && 'unenrol' || stage == 'new' && 'enrol' || null }}",
    "target": {"id": "{{ sequenceId }}"},
    "contactIds": "{{ contacts }}",
}


SEQ = "5f0c8a0e-1d2b-4c3a-9e8f-7a6b5c4d3e2f"


def test_an_action_template_routes_each_event() -> None:
    routed = mapper(**ROUTED)
    enrol = routed.map({"stage": "new", "sequenceId": SEQ, "contacts": "c1"})
    assert enrol == MembershipIntent("enrol", Target(id=SEQ), ["c1"])  # a string: one contact
    unenrol = routed.map({"stage": "won", "sequenceId": SEQ, "contacts": ["c1", "c2", "c1"]})
    assert unenrol == MembershipIntent("unenrol", Target(id=SEQ), ["c1", "c2"])  # each once
    assert routed.map({"stage": "lost", "sequenceId": SEQ, "contacts": ["c1"]}) is None


def test_a_create_source_maps_as_before() -> None:
    create = mapper(sequence={"name": "{{ n }}", "creatorId": CREATOR, "assignedToIds": [CREATOR]})
    intent = create.map({"n": "Call Ada"})
    assert isinstance(intent, CreateIntent)
    assert intent.dto.name == "Call Ada"


@pytest.mark.parametrize(
    ("event", "field", "words"),
    [
        ({"stage": "won", "sequenceId": SEQ, "contacts": [17]}, "contactIds", "contact()"),
        ({"stage": "new", "sequenceId": SEQ, "contacts": []}, "contactIds", "no contact ids"),
        ({"stage": "new", "sequenceId": " ", "contacts": ["c"]}, "target.id", "non-empty"),
        # #22 finding 7: `..` would make urllib3 drop a path segment (POST /v1/contacts)
        ({"stage": "new", "sequenceId": "..", "contacts": ["c"]}, "target.id", "a UUID"),
        ({"stage": "new", "sequenceId": 42, "contacts": ["c"]}, "target.id", "a UUID"),
        ({"stage": "new", "sequenceId": f"{SEQ}/../x", "contacts": ["c"]}, "target.id", "a UUID"),
    ],
)
def test_what_does_not_map_says_why(event: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(EventMappingError) as caught:
        mapper(**ROUTED).map(event)
    [error] = caught.value.errors
    assert error.field == field
    assert words in error.message


def by_rendered_name() -> Any:
    """Enrols into the target its event names (`name`), created from `sequence` if need be."""
    return mapper(
        action="enrol",
        target={"name": "{{ name }}"},
        contactIds="{{ contacts }}",
        sequence={"creatorId": CREATOR, "assignedToIds": [CREATOR]},
    )


def test_a_target_name_too_long_for_the_link_table_is_a_mapping_failure() -> None:
    """#22 finding 15: it was reported as "Link table unreachable", a retryable outage."""
    named = by_rendered_name()
    with pytest.raises(EventMappingError) as caught:
        named.map({"name": "N" * 3000, "contacts": ["c1"]})
    [error] = caught.value.errors
    assert error.field == "target.name"
    assert error.message.endswith("at most 1024")


def test_a_target_name_holding_the_scope_separator_is_a_mapping_failure() -> None:
    """Security review #28, finding 4: a sharing source could render `crm::VIP`, crm's private
    link key, and enrol into crm's sequence."""
    named = by_rendered_name()
    with pytest.raises(EventMappingError) as caught:
        named.map({"name": "crm::VIP", "contacts": ["c1"]})
    [error] = caught.value.errors
    assert (error.field, error.message) == ("target.name", "a name may not hold '::'")
    assert named.map({"name": "crm: VIP", "contacts": ["c1"]}) is not None  # one colon is fine
    # nor does a name kept in a letter (never rendered again) reach the link table, nor one
    # longer than mapping renders (finding 5: a letter is no way around the limits)
    for kept in ("crm::VIP", "N" * 3000):
        refused = namer().resolve(kept, lambda: sequence(1), Deadline(5))
        assert isinstance(refused, CallFailed)
        assert (refused.reason, refused.retryable) == (Reason.MAPPING_FAILED, False)
        assert namer().remember(kept, "seq-1") == refused


def test_an_action_that_is_not_one_teaches_the_three() -> None:
    with pytest.raises(EventMappingError) as caught:
        mapper(**{**ROUTED, "action": "{{ stage }}"}).map({"stage": "subscribe"})
    assert "create, enrol, unenrol" in caught.value.errors[0].message


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"action": "delete", **{k: ROUTED[k] for k in ("target", "contactIds")}}, "not one of"),
        ({}, "`sequence` (with its name) is required"),
        ({"action": "enrol", "contactIds": "{{ c }}"}, "`target` and `contactIds`"),
        ({"action": "enrol", "target": {"name": "x"}, "contactIds": "{{ c }}"},
         "required to create"),
        ({"action": "unenrol", "target": {"id": "x"}, "contactIds": "{{ c }}", "assignTo": "a"},
         "only an enrol assigns"),
        ({"action": "enrol", "target": {"id": "x", "name": "y"}, "contactIds": "{{ c }}"},
         "exactly one"),
    ],
)  # fmt: skip
def test_a_source_missing_what_its_action_needs_is_refused_at_load(
    config: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        mapper(**config)
    assert words in str(caught.value)


# -- grouping --------------------------------------------------------------------------


def held(
    action: str, contacts: list[str], sequence: str = "S", assignee: str | None = None
) -> Held:
    intent = MembershipIntent(action, Target(id=sequence), contacts, assignee)  # type: ignore[arg-type]
    return Held("d", 0, intent, Target(id=sequence), [])


def test_a_batch_for_one_sequence_shares_calls_of_at_most_100_in_order() -> None:
    batch = [held("enrol", [f"c{n}", f"c{n + 1}"]) for n in range(0, 250, 2)]
    calls = changes(batch)
    assert [len(call.items) for call in calls] == [100, 100, 50]
    assert [c for call in calls for c in call.contact_ids] == [f"c{n}" for n in range(250)]
    assert calls[0].holders == set(range(50))


def test_sequences_and_actions_get_their_own_calls_and_repeats_are_sent_once() -> None:
    calls = changes([
        held("enrol", ["a", "b"], "S", assignee="m1"), held("enrol", ["b", "c"], "T"),
        held("unenrol", ["d"], "S"), held("enrol", ["a"], "S", assignee="m2"),
    ])  # fmt: skip
    assert [(c.action, c.sequence_id, c.items) for c in calls] == [
        ("enrol", "S", {"a": "m1", "b": "m1"}),  # the first assignee asked for wins
        ("enrol", "T", {"b": None, "c": None}),
        ("unenrol", "S", {"d": None}),
    ]
    assert calls[0].holders == {0, 3}


def test_a_contact_enrolled_then_taken_out_then_enrolled_keeps_that_order() -> None:
    calls = changes([held("enrol", ["x", "y"]), held("unenrol", ["x"]), held("enrol", ["x", "z"])])
    assert [(c.action, c.contact_ids) for c in calls] == [
        ("enrol", ["x", "y"]), ("unenrol", ["x"]), ("enrol", ["x", "z"]),
    ]  # fmt: skip


# -- created once by name ----------------------------------------------------------------


def sequence(number: int, name: str = "N") -> Created:
    return Created(
        SequenceDto(id=f"seq-{number}", name=name, organizationMembershipId=CREATOR,
                    createdAt="2026-11-26T00:00:00Z", updatedAt="2026-11-26T00:00:00Z"),
        attempts=1,
    )  # fmt: skip


def failed(reason: Reason) -> CallFailed:
    return CallFailed(reason, reason is not Reason.OUTCOME_UNKNOWN, 1,
                      ErrorInfo(code="X", message="failed"))  # fmt: skip


@dataclass
class Clock:
    now: float = 1_000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def namer(links: Any = None, clock: Clock | None = None) -> SequenceNamer:
    clock = clock or Clock()
    return SequenceNamer(links or MemoryLinks(), clock=clock, sleep=clock.sleep)


def test_names_belong_to_their_source_unless_it_shares_them() -> None:
    """#22 finding 5: a payload of one source could unenrol contacts from, or pre-create with
    its own creator, another source's named sequence. Each source now has its own names."""
    links, made = MemoryLinks(), iter(range(1, 10))

    def create() -> Created:
        return sequence(next(made))

    squatted = namer(links).resolve("VIP", create, Deadline(5), scope="automation-enrol")
    crm = namer(links).resolve("VIP", create, Deadline(5), scope="hubspot")
    assert (squatted, crm) == (Resolved("seq-1", created=True), Resolved("seq-2", created=True))
    # an unenrol from another source's name finds nothing to take contacts out of
    assert namer(links).resolve("VIP", None, Deadline(5), scope="pipedrive") is None
    # sources that opt in share one namespace (scope None)
    shared = namer(links).resolve("Team", create, Deadline(5))
    assert namer(links).resolve("Team", None, Deadline(5)) == Resolved(shared.sequence_id, False)  # type: ignore[union-attr]


def test_a_name_linked_before_names_were_scoped_is_adopted_not_created_again() -> None:
    links = MemoryLinks()
    links._names["Inbound"] = NameLink("linked", "seq-legacy")  # an earlier version's, unmarked
    never = namer(links).resolve("Inbound", lambda: failed(Reason.SKIPCALL_REJECTED),
                                 Deadline(5), scope="hubspot")  # fmt: skip
    assert never == Resolved("seq-legacy", created=False)
    assert links.lookup("hubspot::Inbound") is not None  # adopted under its source's scope


def test_a_shared_name_written_since_names_were_scoped_is_never_a_private_source_s() -> None:
    """Security review #28, finding 4: a sharing source's link (shared names) was taken over by
    the first private source that used the name."""
    links, created = MemoryLinks(), []
    shared = namer(links).resolve("VIP", lambda: sequence(1), Deadline(5))  # a sharing source
    assert shared == Resolved("seq-1", True)
    private = namer(links).resolve("VIP", lambda: created.append(2) or sequence(2), Deadline(5),
                                   scope="crm")  # fmt: skip
    assert private == Resolved("seq-2", True)  # its own sequence, not the shared one
    assert created == [2]


class WrittenMeanwhile(MemoryLinks):
    """Another run links the scoped name while this run reads the unscoped one."""

    def lookup(self, name: str) -> NameLink | None:
        if name == "Inbound" and "hubspot::Inbound" not in self._names:
            self._names["hubspot::Inbound"] = NameLink("linked", "seq-other-run")
        return super().lookup(name)


def test_an_adoption_never_overwrites_what_another_run_wrote_meanwhile() -> None:
    """Security review #28, finding 12: adoption was a look-up then an unconditional put."""
    links = WrittenMeanwhile()
    links._names["Inbound"] = NameLink("linked", "seq-legacy")
    found = namer(links).resolve("Inbound", None, Deadline(5), scope="hubspot")
    assert found == Resolved("seq-other-run", created=False)
    assert links.lookup("hubspot::Inbound") == NameLink("linked", "seq-other-run")


def test_a_name_is_created_once_then_found() -> None:
    links, calls = MemoryLinks(), []
    first = namer(links).resolve("N", lambda: calls.append(1) or sequence(1), Deadline(5))
    second = namer(links).resolve("N", lambda: calls.append(2) or sequence(2), Deadline(5))
    assert (first, second) == (Resolved("seq-1", True), Resolved("seq-1", False))
    assert calls == [1]
    assert namer(links).resolve("N", None, Deadline(5)) == Resolved("seq-1", False)
    assert namer().resolve("never", None, Deadline(5)) is None  # an unenrol creates nothing


def test_a_provable_failure_releases_the_name_and_a_possible_one_holds_it() -> None:
    links = MemoryLinks()
    refused = namer(links).resolve("N", lambda: failed(Reason.SKIPCALL_REJECTED), Deadline(5))
    assert isinstance(refused, CallFailed)
    assert links.lookup("N") is None  # the next delivery may create it
    unknown = namer(links).resolve("N", lambda: failed(Reason.OUTCOME_UNKNOWN), Deadline(5))
    assert isinstance(unknown, CallFailed)
    assert unknown.reason is Reason.OUTCOME_UNKNOWN
    pending = namer(links).resolve("N", lambda: sequence(9), Deadline(5))
    assert isinstance(pending, CallFailed)
    assert pending.reason is Reason.SEQUENCE_PENDING
    assert "links set" in pending.error.message


def test_a_create_that_raises_releases_the_name() -> None:
    links = MemoryLinks()

    def broken() -> Created:
        raise EventMappingError([])

    with pytest.raises(EventMappingError):
        namer(links).resolve("N", broken, Deadline(5))
    assert links.lookup("N") is None


class WinnerLinksLater(MemoryLinks):
    """Another container holds the claim, and links the id after a few polls."""

    def __init__(self, polls: int) -> None:
        super().__init__()
        self.polls = polls
        self.claim("N", "other", 1_000.0)

    def lookup(self, name: str) -> NameLink | None:
        self.polls -= 1
        if self.polls == 0:
            self.link(name, "seq-winner")
        return super().lookup(name)


def test_a_loser_waits_for_the_winners_id_and_never_creates() -> None:
    clock = Clock()
    result = namer(WinnerLinksLater(polls=4), clock).resolve("N", lambda: sequence(2), Deadline(5))
    assert result == Resolved("seq-winner", False)
    assert 0 < sum(clock.slept) < 1


def test_a_loser_that_runs_out_of_time_waits_in_the_dlq() -> None:
    clock = Clock()
    result = namer(WinnerLinksLater(polls=10_000), clock).resolve(
        "N", lambda: sequence(2), Deadline(3)
    )
    assert isinstance(result, CallFailed)
    assert result.reason is Reason.SEQUENCE_PENDING
    assert sum(clock.slept) <= 3


def test_a_claim_left_by_a_run_that_stopped_is_for_a_person() -> None:
    links, clock = MemoryLinks(), Clock()
    links.claim("N", "gone", clock.now - STALE_CLAIM_SECONDS - 1)
    result = namer(links, clock).resolve("N", lambda: sequence(2), Deadline(5))
    assert isinstance(result, CallFailed)
    assert result.reason is Reason.SEQUENCE_PENDING
    assert clock.slept == []  # no wait for a run that is gone


class LinkFails(MemoryLinks):
    def link(self, name: str, sequence_id: str) -> None:
        raise Unavailable("table down")


def test_created_but_not_linked_keeps_the_id_for_the_letter() -> None:
    result = namer(LinkFails()).resolve("N", lambda: sequence(3), Deadline(5))
    assert isinstance(result, CreatedNotLinked)
    assert result.sequence_id == "seq-3"
    assert result.failure.reason is Reason.LINKS_UNAVAILABLE
    links = MemoryLinks()
    assert namer(links).remember("N", "seq-3") is None  # what the replay does
    assert links.lookup("N") == NameLink("linked", sequence_id="seq-3", shared=True)


def test_a_letter_saying_created_never_re_points_a_linked_name() -> None:
    """Security review #28, finding 5: `created: true` in a letter was an unconditional put, so
    anyone who may send to the work queue could point a name at another sequence. The link is
    written over the creating run's claim only."""
    links = MemoryLinks()
    links.claim("N", "the-creating-run", 1_000.0)
    assert namer(links).remember("N", "seq-3") is None  # over the claim: linked
    assert links.lookup("N") == NameLink("linked", sequence_id="seq-3", shared=True)
    assert namer(links).remember("N", "seq-forged") is None
    assert links.lookup("N") == NameLink("linked", sequence_id="seq-3", shared=True)


# -- the fate of every event of a batch of enrolments ------------------------------------


@dataclass
class Crm:
    skipcall: ScriptedSkipcall = field(default_factory=ScriptedSkipcall)
    queue: RecordingDeadLetters = field(default_factory=RecordingDeadLetters)
    guard: MemoryIdempotency = field(default_factory=MemoryIdempotency)

    def __post_init__(self) -> None:
        self.pipeline = Pipeline(
            SourceCatalog.from_config(parse_sources(json.dumps(SOURCES))),
            StaticSecrets({"crm": [TOKEN]}),
            self.skipcall,
            self.queue,
            max_body_bytes=1024 * 1024,
            guard=self.guard,
        )

    def send(self, events: list[dict[str, Any]]) -> Any:
        body = json.dumps({"events": events}).encode()
        request = SignedRequest("POST", "/", body, Headers({"Authorization": f"Bearer {TOKEN}"}))
        return self.pipeline.process(InboundDelivery("crm", request), 20.0)


def test_a_client_that_raises_on_an_enrolment_leaves_it_for_the_replay() -> None:
    # Adding or removing contacts is idempotent: unlike a create, the replay may send it again.
    world = Crm()

    def bug(action: str, sequence: str, contacts: list[str]) -> CallFailed | None:
        raise RuntimeError("client bug")

    world.skipcall.membership_fault = bug
    report = world.send([{"id": "e1", "action": "enrol", "sequence": "A", "contacts": ["c1"]}])
    assert [outcome.status for outcome in report.events] == ["dead-lettered"]
    (letter,) = world.queue.letters
    assert (letter.reason, letter.retryable) == (Reason.SKIPCALL_UNAVAILABLE, True)
    assert letter.error.code == "CLIENT_ERROR"


change = st.fixed_dictionaries({
    "action": st.sampled_from(["enrol", "unenrol"]),
    "sequence": st.sampled_from(["A", "B"]),
    "contacts": st.lists(st.sampled_from([f"c{n}" for n in range(150)]), min_size=1, max_size=60),
})  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.lists(change, min_size=1, max_size=8),
    failing=st.sets(st.integers(0, 12), max_size=4),
    queue_down=st.booleans(),
)
def test_every_enrolment_ends_exactly_once(
    batch: list[dict[str, Any]], failing: set[int], queue_down: bool
) -> None:
    """Whatever call fails: an event is done (every call holding its contacts answered), or its
    letter holds its action, target and contacts, or (queue down) it is unfinished and free to
    be done again by the retry. Calls hold at most 100 contacts, and no more calls are made
    than the grouping needs."""
    world = Crm()
    world.skipcall.membership_fault = lambda a, s, c: (
        failed(Reason.SKIPCALL_UNAVAILABLE) if len(world.skipcall.membership_calls) - 1 in failing
        else None
    )  # fmt: skip
    world.queue.broken = queue_down
    events = [{"id": f"e{n}", **item} for n, item in enumerate(batch)]
    report = world.send(events)
    calls = world.skipcall.membership_calls
    assert all(len(contacts) <= 100 for _, _, contacts in calls)
    letters = {letter.delivery_id: letter for letter in world.queue.letters}
    for item, outcome in zip(events, report.events, strict=True):
        assert outcome.delivery_id == item["id"]
        contacts = list(dict.fromkeys(item["contacts"]))
        if outcome.status in ("enrolled", "unenrolled"):
            assert outcome.status == {"enrol": "enrolled", "unenrol": "unenrolled"}[item["action"]]
            assert outcome.contact_ids == contacts
            assert item["id"] not in letters
        elif outcome.status == "dead-lettered":
            letter = letters[item["id"]]
            assert (letter.action, letter.contact_ids) == (item["action"], contacts)
            assert letter.target is not None
            assert letter.target.name == item["sequence"]
            assert letter.retryable
        else:
            assert outcome.status == "unfinished"
            assert queue_down
            ident = ("crm", item["id"], "receive")
            assert ident not in world.guard.records  # released: the retry does it all again
    per_group: dict[tuple[str, str], set[str]] = {}
    for item in events:
        per_group.setdefault((item["action"], item["sequence"]), set()).update(item["contacts"])
    fewest = sum(-(-len(group) // 100) for group in per_group.values())
    assert len(calls) <= fewest + len(events)  # order splits aside, nothing wasteful
    if not failing and not queue_down:
        assert delivery_response(report).status_code == 201
