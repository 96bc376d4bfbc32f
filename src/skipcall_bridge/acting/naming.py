"""Sequences created once by name: a `target` of `{"name": ...}` means "the sequence with this
name, created from the source's `sequence` the first time it is needed".

Skipcall cannot list or find sequences, so the link table remembers name -> id. To create, a run
first writes a claim on the name with a condition (only one run, in any container, gets it),
then creates, then links the id over its claim. A run that finds a claim waits for the id and
reuses it. What can go wrong, and what it leaves:

- the create fails and provably did nothing: the claim is released; the next run creates;
- the create may have reached Skipcall (OUTCOME_UNKNOWN): the claim is kept as `unknown`, and
  events for that name wait (SEQUENCE_PENDING) until a person says what Skipcall holds
  (`skipcall-bridge links set NAME ID`, or `links forget NAME` to create it again);
- created, but the link could not be written (the table went down in between): the event's
  letter keeps the new id, and its replay links it; meanwhile the name waits as above;
- a claim older than STALE_CLAIM_SECONDS belongs to a run that stopped midway: as `unknown`.

Names belong to their source (`scope`): the same name in two sources is two sequences, so one
source's payload can neither take contacts out of nor pre-create another's. A source that sets
`sharedSequenceNames` uses the one shared namespace, which is also where names created before
names were scoped live: a scoped name not found yet is looked up there once, and a link found
is adopted under the source's scope (no second sequence after the upgrade).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.errors import Unavailable
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.keyed_locks import KeyedLocks
from skipcall_bridge.common.observability import logger
from skipcall_bridge.common.ports import SCOPE_SEPARATOR, NameLink, SequenceNames, scoped_name
from skipcall_bridge.skipcall.models import CallFailed, Created
from skipcall_bridge.sources.identity import links_unavailable
from skipcall_bridge.sources.mapping import name_problem

# Longer than any run holds a claim: a receiver's budget (<= 25 s) or a replay unit (10 s).
STALE_CLAIM_SECONDS = 120.0
# A run that finds a claim polls for the id, not beyond this, and keeps this much for its own
# call to Skipcall.
MAX_WAIT_SECONDS = 5.0
WAIT_RESERVE_SECONDS = 1.0
POLL_SECONDS = (0.05, 0.1, 0.2, 0.4)
# How long a container trusts a name's id without reading the table again: `links forget` (or
# `links set`) reaches every running container within this, as the command says.
CACHE_SECONDS = 30.0
# Names a container remembers at most: a target name rendered from the payload ("Deal {{ id }}")
# is a new name per event, and a warm container must not grow with them (oldest read first out).
CACHE_NAMES = 1024


@dataclass(frozen=True)
class Resolved:
    sequence_id: str
    created: bool  # this run created it
    # Skipcall's SequenceDto, when this run created it (for the answer; not the resolution's
    # identity, which is the id and whether it was created)
    sequence: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CreatedNotLinked:
    """Created in Skipcall, but the link could not be written: the id must travel in the
    event's letter, whose replay links it."""

    sequence_id: str
    failure: CallFailed


NameResult = Resolved | CreatedNotLinked | CallFailed


class SequenceNamer:
    def __init__(
        self,
        names: SequenceNames,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._names = names
        self._clock = clock
        self._sleep = sleep
        # name -> (id, when read), oldest first; a delivery's events resolve on several threads
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._names_in_use = KeyedLocks()

    def resolve(
        self,
        name: str,
        create: Callable[[], Created | CallFailed] | None,
        deadline: Deadline,
        scope: str | None = None,
    ) -> NameResult | None:
        """The id of the sequence called `name` in `scope` (a source; None: the shared
        names), created with `create` when no run has (None: never created, and `create` is
        None: an unenrol has nothing to take contacts out of)."""
        if (problem := name_problem(name)) is not None:  # a letter's kept name, not rendered
            return _not_a_name(problem)
        key = scoped_name(scope, name)
        if (known := self._cached(key)) is not None:
            return known
        # One thread of this container at a time per name: the others then find the id it
        # made instead of polling the table for it.
        with self._names_in_use.hold(key, deadline.remaining() - WAIT_RESERVE_SECONDS):
            if (known := self._cached(key)) is not None:
                return known
            if scope is not None and (adopted := self._adopt(key, name)) is not None:
                return adopted
            return self._resolve(key, create, deadline)

    def _adopt(self, key: str, name: str) -> Resolved | None:
        """A sequence this name was linked to before names were scoped, linked under the
        source's scope too (None: nothing to adopt). Only such a link: one a sharing source
        wrote since is marked `shared`, and stays the sharing sources' (security review #28,
        finding 4); the write is conditional (finding 12)."""
        try:
            if self._names.lookup(key) is not None:
                return None
            legacy = self._names.lookup(name)
            if legacy is None or legacy.sequence_id is None or legacy.shared:
                return None
            if not self._names.adopt(key, legacy.sequence_id):
                return None  # written meanwhile: _resolve reads what is there
        except Unavailable:
            return None  # _resolve meets the outage and says so
        logger.info("Shared sequence name adopted by its source", extra={"sequenceName": name})
        return self._found(key, legacy.sequence_id)

    def _resolve(
        self, name: str, create: Callable[[], Created | CallFailed] | None, deadline: Deadline
    ) -> NameResult | None:
        try:
            link = self._names.lookup(name)
            if link is None and create is None:
                return None
            if link is None and create is not None:
                token = uuid.uuid4().hex
                if self._names.claim(name, token, self._clock()):
                    return self._create(name, token, create)
                link = self._names.lookup(name)
            if link is not None and link.state == "creating" and not self._stale(link):
                link = self._wait(name, deadline)
        except Unavailable as exc:
            return links_unavailable(exc)
        if link is not None and link.sequence_id is not None:
            return self._found(name, link.sequence_id)
        return _pending(name, link)

    def forget(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def _cached(self, name: str) -> Resolved | None:
        with self._cache_lock:
            cached = self._cache.get(name)
        if cached is not None and self._clock() - cached[1] < CACHE_SECONDS:
            return Resolved(cached[0], created=False)
        return None

    def _remember(self, name: str, sequence_id: str) -> None:
        with self._cache_lock:
            self._cache[name] = (sequence_id, self._clock())
            self._cache.move_to_end(name)
            while len(self._cache) > CACHE_NAMES:
                self._cache.popitem(last=False)

    def remember(self, name: str, sequence_id: str, scope: str | None = None) -> CallFailed | None:
        """Link a sequence created earlier (by a run whose link was not written), over the
        creating run's claim only: a name already linked keeps its link. A letter that says
        `created` is not proof (anyone who may send to the queue can write one), and an
        operator's `links set` meanwhile wins (security review #28, finding 5)."""
        if (problem := name_problem(name)) is not None:
            return _not_a_name(problem)
        key = scoped_name(scope, name)
        try:
            settled = self._names.settle(key, sequence_id)
        except Unavailable as exc:
            return links_unavailable(exc)
        if not settled:
            logger.warning(
                "Sequence name already linked: its link is kept", extra={"sequenceName": name}
            )
            return None
        self._remember(key, sequence_id)
        return None

    def _create(
        self, name: str, token: str, create: Callable[[], Created | CallFailed]
    ) -> NameResult:
        try:
            result = create()
        except Exception:  # its DTO did not render: nothing was sent
            self._settle_failed(name, token, None)
            raise
        if isinstance(result, CallFailed) or result.sequence is None:
            self._settle_failed(name, token, result)
            return result if isinstance(result, CallFailed) else _unreadable(name)
        sequence_id = result.sequence.id
        try:
            self._names.link(name, sequence_id)
        except Unavailable as exc:
            logger.error(
                "Sequence created but not linked",
                extra={"sequenceName": name, "sequenceId": sequence_id},
            )
            return CreatedNotLinked(sequence_id, links_unavailable(exc))
        logger.info("Sequence created for its name", extra={"sequenceName": name})
        self._remember(name, sequence_id)
        return Resolved(sequence_id, True, result.sequence.model_dump(mode="json"))

    def _settle_failed(self, name: str, token: str, result: Created | CallFailed | None) -> None:
        """Release the claim when nothing was created (None: nothing was sent); keep it
        `unknown` when it may have been."""
        maybe = isinstance(result, Created) or (
            isinstance(result, CallFailed) and result.reason is Reason.OUTCOME_UNKNOWN
        )
        try:
            if maybe:
                self._names.mark_unknown(name, token)
            else:
                self._names.release(name, token)
        except Unavailable:  # the claim stays `creating`, and turns stale: a person decides
            logger.error("Sequence name claim not settled", extra={"sequenceName": name})

    def _wait(self, name: str, deadline: Deadline) -> NameLink | None:
        """Another run is creating it: poll for its id while there is time."""
        limit = min(MAX_WAIT_SECONDS, deadline.remaining() - WAIT_RESERVE_SECONDS)
        waited, step = 0.0, 0
        link = self._names.lookup(name)
        while link is not None and link.state == "creating" and waited < limit:
            pause = POLL_SECONDS[min(step, len(POLL_SECONDS) - 1)]
            self._sleep(pause)
            waited, step = waited + pause, step + 1
            link = self._names.lookup(name)
        return link

    def _stale(self, link: NameLink) -> bool:
        return link.claimed_at is not None and self._clock() - link.claimed_at > STALE_CLAIM_SECONDS

    def _found(self, name: str, sequence_id: str, *, created: bool = False) -> Resolved:
        self._remember(name, sequence_id)
        return Resolved(sequence_id, created)


# Source names are [a-z0-9_-], and a name holding it is refused when it is rendered: the
# first `::` ends the scope.


def _pending(name: str, link: NameLink | None) -> CallFailed:
    if link is None:  # released while we looked: the next try may create it
        why = "its creation was given up just now"
    elif link.state == "creating":
        why = "another run is still creating it"
    else:
        why = (
            "a run could not tell whether Skipcall created it: check Skipcall, then "
            f"`skipcall-bridge links set {_cli_name(name)} ID` or `links forget {_cli_name(name)}`"
        )
    return CallFailed(
        Reason.SEQUENCE_PENDING,
        retryable=True,
        attempts=0,
        error=ErrorInfo(code="SEQUENCE_PENDING", message=f"Sequence {name!r}: {why}."),
    )


def _not_a_name(problem: str) -> CallFailed:
    error = ErrorInfo(code="MAPPING_FAILED", message=f"Not a sequence name: {problem}.")
    return CallFailed(Reason.MAPPING_FAILED, retryable=False, attempts=0, error=error)


def _unreadable(name: str) -> CallFailed:
    return CallFailed(
        Reason.OUTCOME_UNKNOWN,
        retryable=False,
        attempts=1,
        error=ErrorInfo(
            code="UNREADABLE_ANSWER",
            message=f"Skipcall created sequence {name!r} but its id is unreadable.",
        ),
    )


def _cli_name(key: str) -> str:
    """How the links verbs take a scoped name: the name and `--source`."""
    scope, separator, name = key.partition(SCOPE_SEPARATOR)
    return f"{name!r} --source {scope}" if separator else f"{key!r} --shared"
