"""An event's letter: built from the event and the reason it was not done, stored in its queue
(the dead-letter queue, or the work queue for what the worker can finish: `LetterPost`), and
what that makes of the event (`dead-lettered`, `unmapped`, `deferred`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from skipcall_bridge.acting.calls import budget_exhausted
from skipcall_bridge.acting.core import Failed
from skipcall_bridge.acting.membership import membership_letter_fields
from skipcall_bridge.common.envelope import DeadLetter, fitted_letter
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.common.outcomes import EventOutcome, OutcomeStatus
from skipcall_bridge.receive.letter_post import LetterPost
from skipcall_bridge.sources.catalog import Source
from skipcall_bridge.sources.templates import FieldError
from skipcall_bridge.verify import SignedRequest


@dataclass(frozen=True)
class DeliveryEvent:
    """One event of a delivery: its place in the batch, its id and its payload."""

    index: int
    delivery_id: str
    payload: Any


class NotStored(Exception):
    """An event's letter could not be stored."""

    def __init__(self, letter: DeadLetter) -> None:
        super().__init__(letter.reason)
        self.letter = letter


class EventLetters:
    """The letters of one delivery's events."""

    def __init__(
        self, post: LetterPost, source: Source, request: SignedRequest, received_at: datetime
    ) -> None:
        self._post = post
        self._source = source
        self._request = request
        self._received_at = received_at

    def letter(
        self,
        event: DeliveryEvent,
        *,
        reason: Reason,
        retryable: bool,
        error: ErrorInfo,
        sequence: dict[str, Any] | None,
        whole: bool = False,
        encoded: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> DeadLetter:
        fields: dict[str, Any] = {
            **(extra or {}),
            "source": self._source.name,
            "deliveryId": event.delivery_id,
            "receivedAt": self._received_at,
            "reason": reason,
            "retryable": retryable,
            "attempts": 1,  # the receiver's try; each failed replay run adds one
            "error": error,
            "sequence": sequence,
            "payload": event.payload,
        }
        if self._source.body_format == "auto":  # the replay reads a stored body the same way
            fields["bodyFormat"] = self._source.format_of(self._request)
        if whole:  # the delivery's body stands for all of its events
            fields |= {"payloadScope": "body", "eventIndex": None}
            if encoded:
                fields["payloadEncoding"] = "base64"
            return fitted_letter(fields, self._request.body, None)
        return fitted_letter(fields, self._request.body, event.index)

    def unmapped(
        self,
        event: DeliveryEvent,
        errors: Sequence[FieldError],
        status: OutcomeStatus = "unmapped",
        *,
        whole: bool = False,
    ) -> EventOutcome:
        letter = self.letter(
            event,
            reason=Reason.MAPPING_FAILED,
            retryable=False,
            error=mapping_error(errors),
            sequence=None,
            whole=whole,
            encoded=status == "invalid-body",
        )
        return self.stored(letter, errors, status)

    def of_failure(self, failed: Failed) -> DeadLetter:
        """The letter of an event the acting core could not do: what it keeps to do it
        again (the DTO of a create; an enrolment's action, target and contacts)."""
        task, failure = failed.task, failed.failure
        event = DeliveryEvent(task.index, task.delivery_id, task.payload)
        if failure.reason is Reason.MAPPING_FAILED:
            return self.letter(
                event,
                reason=Reason.MAPPING_FAILED,
                retryable=False,
                error=mapping_error(failed.errors) if failed.errors else failure.error,
                sequence=None,
            )
        extra: dict[str, Any] | None = None
        if failed.intent is not None and failed.target is not None:
            extra = membership_letter_fields(failed.intent, failed.target, failed.created)
        elif failed.create:
            extra = {"action": "create"}
        return self.letter(
            event,
            reason=failure.reason,
            retryable=failure.retryable,
            error=failure.error,
            sequence=failed.dto,
            extra=extra,
        )

    def stored(
        self, letter: DeadLetter, errors: Sequence[FieldError], status: OutcomeStatus
    ) -> EventOutcome:
        """Stores the letter (or raises NotStored): only then is the outcome recorded."""
        if self.send([letter]):
            raise NotStored(letter)
        return self.outcome(letter, errors, status)

    def unworked(self, event: DeliveryEvent, *, unclaimed: bool = False) -> DeadLetter:
        """The letter of an event no time was left to work: mapped later by the worker or the
        replay, with that day's sources. `unclaimed`: its delivery was accepted whole."""
        failure = budget_exhausted()
        return self.letter(
            event,
            reason=failure.reason,
            retryable=True,
            error=failure.error,
            sequence=None,
            extra={"unclaimed": True} if unclaimed else None,
        )

    def send(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        """Stores the letters, each in its queue; returns those not stored."""
        return self._post.send(letters, self._source.name) if letters else []

    def outcome(
        self, letter: DeadLetter, errors: Sequence[FieldError], status: OutcomeStatus
    ) -> EventOutcome:
        """A stored letter's event: `deferred` when the letter went to the work queue."""
        return EventOutcome(
            delivery_id=letter.delivery_id,
            status=self._post.status(letter, status),
            reason=letter.reason,
            errors=[error.as_dict() for error in errors],
            action=letter.action,
        )


def unfinished(event: DeliveryEvent, retry_after_seconds: int = 30) -> EventOutcome:
    return EventOutcome(
        delivery_id=event.delivery_id,
        status="unfinished",
        retry_after_seconds=retry_after_seconds,
    )


def mapping_error(errors: Sequence[FieldError]) -> ErrorInfo:
    message = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return ErrorInfo(status=422, code="MAPPING_FAILED", message=message or "The event did not map.")


def pending(letter: DeadLetter) -> dict[str, Any]:
    """What a retry needs to rebuild the letter (the payload comes with the retry itself)."""
    kept: dict[str, Any] = {
        "reason": letter.reason.value,
        "error": letter.error.model_dump(mode="json"),
        "sequence": letter.sequence,
    }
    if letter.action in ("enrol", "unenrol"):
        kept["membership"] = letter.model_dump(
            mode="json",
            by_alias=True,
            include={"action", "target", "contact_ids", "assignee", "created"},
        )
    return kept
