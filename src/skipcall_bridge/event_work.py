"""What one event does in Skipcall: mapped with its source's templates, then a sequence created,
or its contacts held for an enrolment or a removal; the held changes are sent grouped by
sequence (up to 100 contacts a call, in order) once every event has been mapped, and each
event is recorded once the calls holding its contacts have answered. Whatever goes wrong ends
this event only: a letter with its reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.budget import Deadline
from skipcall_bridge.envelope import Target
from skipcall_bridge.event_core import EventCore
from skipcall_bridge.event_letters import (
    DeliveryEvent,
    EventLetters,
    budget_exhausted,
    unfinished,
)
from skipcall_bridge.failures import ErrorInfo, Reason
from skipcall_bridge.identity import DirectoryUnavailable, IdentityServices, Resolution
from skipcall_bridge.mapping import CreateIntent, EventMappingError, FieldError, MembershipIntent
from skipcall_bridge.membership import Change, Held, changes
from skipcall_bridge.naming import CreatedNotLinked, NameResult, SequenceNamer
from skipcall_bridge.observability import logger, metrics
from skipcall_bridge.outcomes import EventOutcome
from skipcall_bridge.ports import SkipcallActions
from skipcall_bridge.skipcall.models import CallFailed, Created, CreateSequenceDto, Done
from skipcall_bridge.sources import Source

T = TypeVar("T")


@dataclass(frozen=True)
class Services:
    skipcall: SkipcallActions
    identity: IdentityServices | None
    namer: SequenceNamer


class EventWork:
    def __init__(
        self, services: Services, source: Source, letters: EventLetters, core: EventCore
    ) -> None:
        self._s = services
        self._source = source
        self._letters = letters
        self._core = core

    def handle(self, event: DeliveryEvent, deadline: Deadline) -> EventOutcome | Held:
        source = self._source
        resolution: Resolution | None = None
        try:
            resolution = source.resolution(self._s.identity, deadline)
            intent = source.mapper.map(event.payload, resolution)
        except EventMappingError as exc:
            return self._letters.unmapped(event, exc.errors)
        except DirectoryUnavailable as exc:  # the replay maps it again, once Skipcall answers
            return self._letters.not_created(event, None, exc.failure)
        except Exception as exc:  # a bug must end this event, not the batch
            logger.exception("Mapping failed unexpectedly")
            return self._letters.unmapped(event, [FieldError("event", describe(exc))])
        skipped = resolution.skipped if resolution is not None else []
        if intent is None:
            return EventOutcome(delivery_id=event.delivery_id, status="ignored")
        if isinstance(intent, MembershipIntent):
            return self._target(event, intent, resolution, deadline)
        return self._create_sequence(event, intent, skipped, deadline)

    def _create_sequence(
        self,
        event: DeliveryEvent,
        intent: CreateIntent,
        skipped: list[dict[str, str]],
        deadline: Deadline,
    ) -> EventOutcome:
        dto = intent.dto
        result = self._create(dto, deadline)
        if isinstance(result, CallFailed):
            return self._letters.not_created(event, dto, result)
        metrics.add_metric(name="SequencesCreated", unit=MetricUnit.Count, value=1)
        sequence = (
            result.sequence.model_dump(mode="json")
            if result.sequence is not None
            else {"id": None, "name": dto.name}  # created, but Skipcall's answer was unreadable
        )
        return EventOutcome(
            delivery_id=event.delivery_id,
            status="created",
            action="create",
            sequence=sequence,
            skipped_contacts=skipped,
        )

    def _target(
        self,
        event: DeliveryEvent,
        intent: MembershipIntent,
        resolution: Resolution | None,
        deadline: Deadline,
    ) -> EventOutcome | Held:
        """The enrolment's sequence id: given, or found (created once) by its name."""
        skipped = resolution.skipped if resolution is not None else []
        held = Held(
            event.delivery_id, event.index, intent, intent.target, skipped, payload=event.payload
        )
        if intent.target.name is None or not intent.contact_ids:
            # no contacts: an unenrol whose contacts were never linked, nothing to do
            return held if intent.contact_ids else held.outcome()
        made: list[CreateSequenceDto] = []
        try:
            result = self._by_name(held, intent.target.name, resolution, deadline, made)
        except EventMappingError as exc:  # the `sequence` block did not render
            return self._letters.unmapped(event, exc.errors)
        if result is None:
            logger.info("Unenrol from a sequence never created: nothing to do")
            return held.outcome()
        dto = made[0].to_json() if made else None
        letters = self._letters
        if isinstance(result, CallFailed):
            return letters.membership(event, intent, intent.target, result, dto)
        target = Target(id=result.sequence_id, name=intent.target.name)
        if isinstance(result, CreatedNotLinked):
            return letters.membership(event, intent, target, result.failure, dto, created=True)
        return replace(
            held, target=target, created=result.created, sequence=dto,
            created_sequence=result.sequence,
        )  # fmt: skip

    def _by_name(
        self,
        held: Held,
        name: str,
        resolution: Resolution | None,
        deadline: Deadline,
        made: list[CreateSequenceDto],
    ) -> NameResult | None:
        """The named target, created from `sequence` (the DTO is added to `made`) by an enrol
        the first time it is needed; an unenrol never creates one (None: nobody to take out)."""

        def create() -> Created | CallFailed:
            dto = self._source.mapper.creation(held.payload, name, resolution)
            made.append(dto)
            result = self._create(dto, deadline)
            if not isinstance(result, CallFailed):
                metrics.add_metric(name="SequencesCreated", unit=MetricUnit.Count, value=1)
            return result

        try:
            return self._s.namer.resolve(
                name,
                create if held.intent.action == "enrol" else None,
                deadline,
                self._source.name_scope,
            )
        except DirectoryUnavailable as exc:
            return exc.failure

    # -- enrolments and removals, grouped --------------------------------------------------

    def flush(self, held: list[Held], deadline: Deadline) -> dict[int, EventOutcome]:
        """Send the held changes, grouped by sequence in as few calls as the limit allows;
        then store the letters of the events whose calls failed, and record every event."""
        if not held:
            return {}
        failures: dict[int, CallFailed] = {}
        for change in changes(held):
            result = self._change(change, deadline)
            if isinstance(result, CallFailed):
                failures |= dict.fromkeys(change.holders, result)
        outcomes = {
            one.index: one.outcome()
            for position, one in enumerate(held)
            if position not in failures
        }
        failed = [(held[position], failure) for position, failure in sorted(failures.items())]
        outcomes |= self._store_held(failed)
        for one in held:
            if outcomes[one.index].status != "unfinished":
                self._core.record(one.key, outcomes[one.index])
        return outcomes

    def _store_held(self, failed: list[tuple[Held, CallFailed]]) -> dict[int, EventOutcome]:
        """The letters of held events whose calls failed, stored together."""
        letters = [(one, self._letters.held(one, failure)) for one, failure in failed]
        unstored = {id(letter) for letter in self._letters.send([x for _, x in letters])}
        outcomes: dict[int, EventOutcome] = {}
        for one, letter in letters:
            if id(letter) in unstored:
                # enrolment is idempotent: the sender's retry may do it again
                self._core.release(one.key)
                outcomes[one.index] = unfinished(DeliveryEvent(one.index, one.delivery_id, None))
            else:
                outcomes[one.index] = self._letters.outcome(letter, [], "dead-lettered")
        return outcomes

    def _change(self, change: Change, deadline: Deadline) -> Done | CallFailed:
        skipcall, sequence_id = self._s.skipcall, change.sequence_id

        def send() -> Done | CallFailed:  # the bodies are built inside: a raise is a failure
            if change.action == "enrol":
                return skipcall.add_contacts(sequence_id, change.add_body(), deadline)
            return skipcall.remove_contacts(sequence_id, change.remove_body(), deadline)

        result = timed(send, deadline, idempotent=True)
        if isinstance(result, CallFailed):
            logger.warning(
                "Skipcall did not change the sequence's contacts",
                extra={"action": change.action, "reason": result.reason, "error": result.error},
            )
        else:
            name = "ContactsEnrolled" if change.action == "enrol" else "ContactsUnenrolled"
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=len(change.contact_ids))
        return result

    def _create(self, dto: CreateSequenceDto, deadline: Deadline) -> Created | CallFailed:
        skipcall = self._s.skipcall
        result = timed(lambda: skipcall.create(dto, deadline), deadline, idempotent=False)
        if isinstance(result, CallFailed):
            logger.warning(
                "Skipcall did not create the sequence",
                extra={"reason": result.reason, "attempts": result.attempts, "error": result.error},
            )
        return result


def timed(call: Callable[[], T], deadline: Deadline, *, idempotent: bool) -> T | CallFailed:
    """One Skipcall call, its latency published (SkipcallLatency). A client that raises ends
    the call as a failure: one the replay may send again when the call is idempotent, else
    OUTCOME_UNKNOWN (the request may have gone out: never sent again blindly)."""
    if deadline.expired:
        return budget_exhausted()
    started = time.perf_counter()
    try:
        result: T | CallFailed = call()
    except Exception as exc:
        logger.exception("Skipcall client failed unexpectedly")
        result = CallFailed(
            Reason.SKIPCALL_UNAVAILABLE if idempotent else Reason.OUTCOME_UNKNOWN,
            retryable=idempotent,
            attempts=1,
            error=ErrorInfo(code="CLIENT_ERROR", message=describe(exc)),
        )
    elapsed_ms = (time.perf_counter() - started) * 1000
    metrics.add_metric(name="SkipcallLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    return result


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
