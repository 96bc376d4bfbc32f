"""The one acting core: what an event does in Skipcall, whoever acts on it (the receiver, the
worker, the replay, a sender's repeat). In two steps, so that a delivery's enrolments share
calls:

1. `prepare`: the event's intent (mapped with its source's templates, or kept by its letter),
   then a sequence created, or the enrolment's target found (created once, by its name) and the
   enrolment held;
2. `flush`: the held enrolments and removals sent grouped by sequence, up to 100 contacts a
   call, in order.

Every result is a value, never an exception: an `EventOutcome` (done, or nothing to do) or a
`Failed` (why, and what the event's letter keeps to do it again). Turning a failure into a
letter is the caller's: a new letter for the receiver, the same letter back for the worker and
the replay. Before each call the `Pacer` may hold it (the replay sleeps through a spent
rate-limit window, the worker defers instead; the receiver's client paces itself: `pacing`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from skipcall_bridge.acting.calls import SkipcallCalls, describe
from skipcall_bridge.acting.membership import Held, changes
from skipcall_bridge.acting.naming import CreatedNotLinked, NameResult, SequenceNamer
from skipcall_bridge.acting.pacing import Pacer, Unpaced
from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.envelope import Target
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.observability import logger
from skipcall_bridge.common.outcomes import EventOutcome
from skipcall_bridge.common.ports import SkipcallActions
from skipcall_bridge.skipcall.models import CallFailed, Created, CreateSequenceDto
from skipcall_bridge.sources.catalog import Source
from skipcall_bridge.sources.directories import DirectoryUnavailable
from skipcall_bridge.sources.identity import IdentityServices, Resolution
from skipcall_bridge.sources.mapping import CreateIntent, Intent, MembershipIntent
from skipcall_bridge.sources.templates import EventMappingError, FieldError


@dataclass(frozen=True)
class Task:
    """One event to act on, and what its letter kept of it."""

    index: int  # in its delivery (or its letter)
    delivery_id: str
    payload: Any
    kept: Intent | None = None  # what the letter kept to do; None: mapped (again)
    sequence: dict[str, Any] | None = None  # the DTO a named target is created from, if kept
    created: bool = False  # the kept target was created by this event: linked, never created


@dataclass(frozen=True)
class Failed:
    """The event was not done: why, and what its letter keeps to do it again."""

    task: Task
    failure: CallFailed
    errors: list[FieldError] = field(default_factory=list)  # the fields that did not map
    intent: MembershipIntent | None = None  # an enrolment's, with its target
    target: Target | None = None  # the target as far as it was resolved
    dto: dict[str, Any] | None = None  # the sequence it was (to be) created from
    create: bool = False  # a create's failure (its DTO is `dto`)
    created: bool = False  # this event created the target; its link is not written


Prepared = EventOutcome | Held | Failed


@dataclass
class _Job:
    """One event as `prepare` works it: where from, and what it learnt on the way."""

    source: Source | None
    source_name: str
    scope: str | None  # where its target names live
    task: Task
    deadline: Callable[[], Deadline]
    resolution: Resolution | None = None  # the identities its templates were given


Fate = EventOutcome | Failed


class ActingCore:
    def __init__(
        self,
        skipcall: SkipcallActions,
        namer: SequenceNamer,
        identity: IdentityServices | None,
        *,
        pacer: Pacer | None = None,
        counts: bool = True,
    ) -> None:
        self._namer = namer
        self._identity = identity
        self._calls = SkipcallCalls(skipcall, pacer or Unpaced(), counts=counts)

    def prepare(
        self, source: Source | None, source_name: str, task: Task, deadline: Callable[[], Deadline]
    ) -> Prepared:
        """The event mapped (or its kept intent), then its sequence created, or its
        enrolment's target resolved and the enrolment held (`flush` sends it). `source_name`:
        the source as the letter names it (a source since removed keeps its own names).
        `deadline`: what each call may take."""
        scope = source.name_scope if source is not None else source_name
        job = _Job(source, source_name, scope, task, deadline)
        intent = self._intent(job)
        if isinstance(intent, Failed):
            return intent
        if intent is None:
            return EventOutcome(delivery_id=task.delivery_id, status="ignored")
        if isinstance(intent, CreateIntent):
            return self._create_sequence(job, intent)
        skipped = job.resolution.skipped if job.resolution is not None else []
        held = Held(task.delivery_id, task.index, intent, intent.target, skipped)
        held = replace(held, payload=task.payload)
        if not intent.contact_ids:  # an unenrol whose contacts were never linked
            return held.outcome()
        return self._target(job, held)

    def flush(self, held: list[Held], deadline: Callable[[], Deadline]) -> list[Fate]:
        """The held enrolments and removals, grouped by sequence in as few calls as the limit
        allows: each event's fate, in `held`'s order."""
        failures: dict[int, CallFailed] = {}
        for change in changes(held):
            result = self._calls.change(change, deadline)
            if isinstance(result, CallFailed):
                failures |= dict.fromkeys(change.holders, result)
        fates: list[Fate] = []
        for position, one in enumerate(held):
            failure = failures.get(position)
            if failure is None:
                fates.append(one.outcome())
                continue
            task = Task(one.index, one.delivery_id, one.payload)
            fates.append(
                Failed(task, failure, intent=one.intent, target=one.target, dto=one.sequence,
                       created=one.created)
            )  # fmt: skip
        return fates

    def act(
        self, source: Source | None, source_name: str, task: Task, deadline: Callable[[], Deadline]
    ) -> Fate:
        """One event, both steps (a letter's events are acted on one at a time)."""
        prepared = self.prepare(source, source_name, task, deadline)
        if isinstance(prepared, Held):
            return self.flush([prepared], deadline)[0]
        return prepared

    def _intent(self, job: _Job) -> Intent | Failed:
        """What the letter kept, or the event mapped with its source's templates."""
        task, source = job.task, job.source
        if task.kept is not None:
            return task.kept
        if source is None:
            return Failed(task, not_mapped(f"no source named {job.source_name!r} is configured"))
        try:
            job.resolution = source.resolution(self._identity, job.deadline())
            return source.mapper.map(task.payload, job.resolution)
        except EventMappingError as exc:
            return Failed(task, not_mapped(str(exc)), list(exc.errors))
        except DirectoryUnavailable as exc:  # mapped again once Skipcall answers
            return Failed(task, exc.failure)
        except Exception as exc:  # a bug must end this event, not the batch
            logger.exception("Mapping failed unexpectedly")
            error = FieldError("event", describe(exc))
            return Failed(task, not_mapped(error.message), [error])

    # -- a sequence --------------------------------------------------------------------------

    def _create_sequence(self, job: _Job, intent: CreateIntent) -> Fate:
        dto, task = intent.dto, job.task
        result = self._calls.create(dto, job.deadline)
        if isinstance(result, CallFailed):
            return Failed(task, result, dto=dto.to_json(), create=True)
        sequence = (
            result.sequence.model_dump(mode="json")
            if result.sequence is not None
            else {"id": None, "name": dto.name}  # created, but Skipcall's answer was unreadable
        )
        return EventOutcome(
            delivery_id=task.delivery_id,
            status="created",
            action="create",
            sequence=sequence,
            skipped_contacts=job.resolution.skipped if job.resolution is not None else [],
        )

    def _target(self, job: _Job, held: Held) -> Prepared:
        """The enrolment's sequence id: given (linked first, when the letter says its event
        created it), or found, or created once, by its name."""
        task, intent = job.task, held.intent
        target = intent.target
        if target.id is not None:
            return self._kept_target(job, held)
        assert target.name is not None
        made: list[CreateSequenceDto] = []
        try:
            result = self._by_name(job, held, target.name, made)
        except EventMappingError as exc:  # the `sequence` block did not render
            return Failed(task, not_mapped(str(exc)), list(exc.errors))
        if result is None:
            logger.info("Unenrol from a sequence never created: nothing to do")
            return held.outcome()
        dto = made[0].to_json() if made else task.sequence
        if isinstance(result, CallFailed):
            return Failed(task, result, intent=intent, target=target, dto=dto)
        linked = Target(id=result.sequence_id, name=target.name)
        if isinstance(result, CreatedNotLinked):
            return Failed(task, result.failure, intent=intent, target=linked, dto=dto, created=True)
        return replace(
            held, target=linked, created=result.created, sequence=dto,
            created_sequence=result.sequence,
        )  # fmt: skip

    def _kept_target(self, job: _Job, held: Held) -> Prepared:
        """A target id the letter kept: linked to its name first when the letter says its
        event created it (the link was not written then)."""
        task, intent = job.task, held.intent
        target = intent.target
        if target.id is None or target.name is None or not task.created:
            return held
        failed = self._namer.remember(target.name, target.id, job.scope)
        if failed is None:
            return held
        return Failed(task, failed, intent=intent, target=target, dto=task.sequence, created=True)

    def _by_name(
        self, job: _Job, held: Held, name: str, made: list[CreateSequenceDto]
    ) -> NameResult | None:
        """The named target, created by an enrol the first time it is needed (its DTO added to
        `made`); an unenrol never creates one (None: nobody to take out)."""

        def create() -> Created | CallFailed:
            dto = self._creation(job, name)
            if isinstance(dto, CallFailed):
                return dto
            made.append(dto)
            return self._calls.create(dto, job.deadline)

        try:
            return self._namer.resolve(
                name, create if held.intent.action == "enrol" else None, job.deadline(), job.scope
            )
        except DirectoryUnavailable as exc:
            return exc.failure

    def _creation(self, job: _Job, name: str) -> CreateSequenceDto | CallFailed:
        """The DTO a named target is created from: the letter's, or the source's `sequence`
        rendered from the event (raises EventMappingError)."""
        task, source = job.task, job.source
        if task.sequence is not None:
            try:
                return CreateSequenceDto.model_validate({**task.sequence, "name": name})
            except ValidationError:  # a letter not written by a receiver: for a person
                return not_mapped("the letter's sequence is not valid")
        if source is None:
            return not_mapped(f"no source named {job.source_name!r} is configured")
        if job.resolution is None:  # a kept intent was not mapped
            try:
                job.resolution = source.resolution(self._identity, job.deadline())
            except DirectoryUnavailable as exc:
                return exc.failure
        return source.mapper.creation(task.payload, name, job.resolution)


def not_mapped(message: str) -> CallFailed:
    error = ErrorInfo(status=422, code="MAPPING_FAILED", message=message or "It did not map.")
    return CallFailed(Reason.MAPPING_FAILED, retryable=False, attempts=0, error=error)
