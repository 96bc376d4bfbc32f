"""Losing the conditional claim on a sequence name: another run claimed the name between this
run's look-up and its claim. This run never creates the sequence: it waits for the other's id
(injected sleep and clock, no real waiting), uses it once linked, or leaves the event pending."""

from __future__ import annotations

from skipcall_bridge.acting.memory_links import MemoryLinks
from skipcall_bridge.acting.naming import Resolved, SequenceNamer
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.failures import Reason
from skipcall_bridge.common.ports import NameLink
from skipcall_bridge.skipcall.models import CallFailed, Created, SequenceDto

OTHERS = "5f0c8a0e-0000-4000-8000-0000000000aa"


class RacedNames(MemoryLinks):
    """The table as this run sees it: empty at its look-up, claimed by another run just before
    its own claim (and, with `links_after` polls, linked by that run)."""

    def __init__(self, links_after: int | None) -> None:
        super().__init__()
        self._raced = False
        self._links_after = links_after
        self.polls = 0

    def lookup(self, name: str) -> NameLink | None:
        if self._raced:
            self.polls += 1
            if self._links_after is not None and self.polls > self._links_after:
                self.link(name, OTHERS)
        return super().lookup(name)

    def claim(self, name: str, token: str, now: float) -> bool:
        if not self._raced:
            self._raced = True
            assert super().claim(name, "the-other-run", now)
        return super().claim(name, token, now)


def never_create() -> Created | CallFailed:
    raise AssertionError("the run that lost the claim must not create the sequence")


def namer(names: RacedNames, slept: list[float]) -> SequenceNamer:
    return SequenceNamer(names, clock=lambda: 1_000.0, sleep=slept.append)


def test_the_loser_uses_the_winner_s_sequence_once_it_is_linked() -> None:
    names, slept = RacedNames(links_after=2), []
    result = namer(names, slept).resolve("Inbound", never_create, Deadline(10, lambda: 0.0))
    assert result == Resolved(OTHERS, created=False)
    assert slept  # it polled (an injected sleep: the test waits for nothing)


def test_the_loser_leaves_the_event_pending_while_the_winner_is_still_creating() -> None:
    names, slept = RacedNames(links_after=None), []
    result = namer(names, slept).resolve("Inbound", never_create, Deadline(0, lambda: 0.0))
    assert isinstance(result, CallFailed)
    assert (result.reason, result.retryable) == (Reason.SEQUENCE_PENDING, True)
    assert "another run is still creating it" in result.error.message


def test_a_warm_container_remembers_a_bounded_number_of_names() -> None:
    """Target names rendered from payloads are new for every event: the cache keeps the most
    recent CACHE_NAMES and forgets the oldest, so a warm container does not grow with them."""
    from skipcall_bridge.acting.naming import CACHE_NAMES

    names = MemoryLinks()
    namer = SequenceNamer(names, clock=lambda: 1_000.0, sleep=lambda _: None)
    for number in range(CACHE_NAMES + 500):
        name = f"Deal {number}"
        names.link(name, f"5f0c8a0e-0000-4000-8000-{number:012d}")
        assert namer.resolve(name, never_create, Deadline(10, lambda: 0.0)) is not None
    assert len(namer._cache) == CACHE_NAMES
    assert "Deal 0" not in namer._cache
    assert f"Deal {CACHE_NAMES + 499}" in namer._cache


def test_a_forgotten_name_is_created_again_once_the_cache_has_lapsed() -> None:
    """#23 item 7: `links forget` deletes the link; a warm container that read the old id goes
    on using it only until CACHE_SECONDS have passed (what the command tells the operator),
    then reads the table again and creates the name anew."""
    from skipcall_bridge.acting.naming import CACHE_SECONDS

    now = [1_000.0]
    names = MemoryLinks()
    namer = SequenceNamer(names, clock=lambda: now[0], sleep=lambda _: None)
    old, new = "5f0c8a0e-0000-4000-8000-000000000001", "5f0c8a0e-0000-4000-8000-000000000002"
    names.link("Inbound", old)
    cached = Resolved(old, created=False)
    assert namer.resolve("Inbound", never_create, Deadline(10, lambda: 0.0)) == cached
    names.forget("Inbound")  # the operator's `links forget Inbound`
    now[0] += CACHE_SECONDS - 1
    assert namer.resolve("Inbound", never_create, Deadline(10, lambda: 0.0)) == cached
    now[0] += 2
    made = Created(
        SequenceDto(id=new, name="Inbound", organizationMembershipId=new,
                    createdAt="2026-12-05T00:00:00Z", updatedAt="2026-12-05T00:00:00Z"),
        attempts=1,
    )  # fmt: skip
    created = namer.resolve("Inbound", lambda: made, Deadline(10, lambda: 0.0))
    assert created == Resolved(new, created=True)
    assert CACHE_SECONDS <= 30  # what `links forget` prints
