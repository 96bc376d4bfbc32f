"""In-memory implementations of the pipeline's ports, for pure unit tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.envelope import MAX_LETTER_BYTES, DeadLetter
from skipcall_bridge.common.errors import DeliveryConflict, InProgress, Unavailable
from skipcall_bridge.common.failures import ErrorInfo, Reason
from skipcall_bridge.skipcall.models import (
    AddContactsBody,
    CallFailed,
    CallResult,
    Created,
    CreateResult,
    CreateSequenceDto,
    Done,
    RemoveContactsBody,
    SequenceDto,
)
from skipcall_bridge.skipcall.retry import RateLimit

FIXED_NOW = 1_800_000_000.0  # the unit tests' wall clock (NOW in their modules)


@dataclass
class StaticSecrets:
    values: dict[str, list[str]]
    reads: int = 0

    def signing_secrets(self, secret_id: str) -> Sequence[str]:
        self.reads += 1
        return self.values[secret_id]


def _sequence(dto: CreateSequenceDto, number: int) -> SequenceDto:
    return SequenceDto(
        id=f"seq-{number}",
        name=dto.name,
        organizationMembershipId=dto.creatorId,
        createdAt="2026-11-26T00:00:00.000Z",
        updatedAt="2026-11-26T00:00:00.000Z",
    )


@dataclass
class ScriptedSkipcall:
    """Answers each create with the next scripted result, or with the fault `fault_for` names
    for the DTO; creates otherwise. `created` holds what Skipcall really created.

    A 429 closes the window as the real client does when it hears one (X-RateLimit-Remaining
    0 until X-RateLimit-Reset): `rate_limit` then says no request is left until `window_seconds`
    from `clock()`, so whoever paces by it (the worker, the pipeline) sees it closed."""

    script: list[CallFailed] = field(default_factory=list)
    received: list[CreateSequenceDto] = field(default_factory=list)
    created: list[CreateSequenceDto] = field(default_factory=list)
    fault_for: Callable[[CreateSequenceDto], str | None] = lambda dto: None
    # enrolments: every call (action, sequence id, contact ids), what each sequence holds now,
    # and the failure a call gets (None: it succeeds)
    membership_calls: list[tuple[str, str, list[str]]] = field(default_factory=list)
    members: dict[str, list[str]] = field(default_factory=dict)
    membership_fault: Callable[[str, str, list[str]], CallFailed | None] = lambda a, s, c: None
    rate_limit: Any = None
    limit: int = 100  # the window's X-RateLimit-Limit
    window_seconds: float = 60.0
    clock: Callable[[], float] = lambda: FIXED_NOW

    def _heard(self, result: Any) -> Any:
        """What the client learns from an answer: a 429 leaves nothing in the window, until the
        reset of the window it knows (else one `window_seconds` from now)."""
        if isinstance(result, CallFailed) and result.error.status == 429:
            now, known = self.clock(), self.rate_limit
            reset = (
                known.reset_epoch
                if known and known.reset_epoch > now
                else now + self.window_seconds
            )
            limit = known.limit if known else self.limit
            self.rate_limit = RateLimit(limit=limit, remaining=0, reset_epoch=reset)
        return result

    def add_contacts(
        self, sequence_id: str, body: AddContactsBody, deadline: Deadline
    ) -> CallResult:
        contacts = [item.contactId for item in body.root]
        return self._membership("enrol", sequence_id, contacts)

    def remove_contacts(
        self, sequence_id: str, body: RemoveContactsBody, deadline: Deadline
    ) -> CallResult:
        return self._membership("unenrol", sequence_id, list(body.root))

    def _membership(self, action: str, sequence_id: str, contacts: list[str]) -> CallResult:
        assert 1 <= len(contacts) <= 100
        self.membership_calls.append((action, sequence_id, contacts))
        failure = self.membership_fault(action, sequence_id, contacts)
        if failure is not None:
            return self._heard(failure)
        held = self.members.setdefault(sequence_id, [])
        for contact in contacts:
            if action == "enrol" and contact not in held:
                held.append(contact)
            elif action == "unenrol" and contact in held:
                held.remove(contact)
        return Done(attempts=1)

    def create(self, dto: CreateSequenceDto, deadline: Deadline) -> CreateResult:
        self.received.append(dto)
        if self.script:
            return self._heard(self.script.pop(0))
        fault = self.fault_for(dto)
        if fault == "5xx":
            return unavailable(attempts=4)
        if fault == "429":
            error = ErrorInfo(status=429, code="HTTP_429", message="slow down")
            return self._heard(CallFailed(Reason.RATE_LIMITED, True, 2, error))
        if fault in ("timeout", "timeout-created"):  # the answer was lost; maybe it was done
            if fault == "timeout-created":
                self.created.append(dto)
            lost = ErrorInfo(code="TIMEOUT", message="no answer")
            return CallFailed(Reason.OUTCOME_UNKNOWN, False, 1, lost)
        if fault == "raise":
            raise RuntimeError("client bug")
        self.created.append(dto)
        return Created(_sequence(dto, len(self.created)), attempts=1)


SQS_BATCH_ENTRIES = 10  # SendMessageBatch's limit


@dataclass
class RecordingDeadLetters:
    """An SQS queue as SendMessageBatch answers: at most 10 entries a call, each entry answered
    on its own (`refuses`: the letters it lists as Failed), and a connection that breaks at the
    `cut_at`-th call of a send, after the calls before it stored their letters (`broken`: at the
    first). Refuses oversized messages as SQS would. Returns the letters not stored."""

    letters: list[DeadLetter] = field(default_factory=list)
    broken: bool = False
    refuses: Callable[[DeadLetter], bool] = lambda letter: False
    cut_at: int | None = None
    calls: int = 0  # sends (one per flush of the pipeline)
    batches: int = 0  # SendMessageBatch calls that reached the queue
    on_batch: Callable[[], None] = lambda: None  # each call's time passing on a test's clock
    # SQS stored the batch, but its answer was lost (a read timeout): the client reports every
    # letter unstored
    answer_lost: bool = False

    delays: list[int] = field(default_factory=list)  # DelaySeconds of each stored letter
    postponed: list[tuple[str, int]] = field(default_factory=list)  # ChangeMessageVisibility

    def send(self, letters: Sequence[DeadLetter], delay_seconds: int = 0) -> list[DeadLetter]:
        self.calls += 1
        unstored: list[DeadLetter] = []
        for number, start in enumerate(range(0, len(letters), SQS_BATCH_ENTRIES)):
            if self.broken or (self.cut_at is not None and number >= self.cut_at):
                return unstored + list(letters[start:])  # unreachable from here on
            self.batches += 1
            self.on_batch()
            for letter in letters[start : start + SQS_BATCH_ENTRIES]:
                if self.refuses(letter):
                    unstored.append(letter)
                    continue
                body = letter.to_message_body()
                assert len(body.encode()) <= MAX_LETTER_BYTES, "SQS would refuse this letter"
                self.letters.append(DeadLetter.model_validate_json(body))  # what a reader gets
                self.delays.append(delay_seconds)
        return list(letters) if self.answer_lost else unstored

    def postpone(self, receipt: str, seconds: int) -> None:
        assert 0 <= seconds <= 12 * 3600, "SQS refuses a visibility timeout past 12 hours"
        self.postponed.append((receipt, seconds))


@dataclass
class MemoryIdempotency:
    """What Powertools idempotency does with a record: done -> the stored outcome; in progress
    -> InProgress; another fingerprint -> DeliveryConflict. `down` makes every call fail."""

    stores = True
    records: dict[tuple[str, str, str], tuple[str, dict[str, Any] | None]] = field(
        default_factory=dict
    )
    down: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def register(self, lambda_context: Any) -> None:
        return None

    def claim(self, key: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:  # DynamoDB's conditional write: one claim wins, whatever the threads
            return self._claim(key)

    def _claim(self, key: dict[str, Any]) -> dict[str, Any] | None:
        if self.down:
            raise Unavailable("table down")
        ident = (key["source"], key["deliveryId"], key["phase"])
        fingerprint = json.dumps(key["payload"], sort_keys=True)
        if ident in self.records:
            stored_fingerprint, outcome = self.records[ident]
            if stored_fingerprint != fingerprint:
                raise DeliveryConflict("another payload")
            if outcome is None:
                raise InProgress
            return outcome
        self.records[ident] = (fingerprint, None)
        return None

    def take(self, key: dict[str, Any], found: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:  # DynamoDB's conditional update on the outcome the run read
            if self.down:
                raise Unavailable("table down")
            ident = (key["source"], key["deliveryId"], key["phase"])
            record = self.records.get(ident)
            if record is None:
                return self._claim(key)
            if record[1] is None:
                raise InProgress
            if record[1] != found:
                return self._claim(key)  # the record as it is now
            self.records[ident] = (record[0], None)
            return None

    def complete(self, key: dict[str, Any], outcome: dict[str, Any]) -> None:
        if self.down:
            raise Unavailable("table down")
        ident = (key["source"], key["deliveryId"], key["phase"])
        # kept as the table keeps it: JSON, read back as a new dict
        self.records[ident] = (self.records[ident][0], json.loads(json.dumps(outcome)))

    def release(self, key: dict[str, Any]) -> None:
        if not self.down:
            self.records.pop((key["source"], key["deliveryId"], key["phase"]), None)

    def lapse_claims(self) -> None:
        """The invocation ended: Powertools treats its in-progress records as expired (their
        expiry is the invocation's remaining time), so a later delivery may claim them."""
        self.records = {ident: r for ident, r in self.records.items() if r[1] is not None}


def unavailable(attempts: int = 3) -> CallFailed:
    return CallFailed(
        Reason.SKIPCALL_UNAVAILABLE,
        retryable=True,
        attempts=attempts,
        error=ErrorInfo(status=503, code="HTTP_503", message="down"),
    )


@dataclass(frozen=True)
class Received:
    """One received message, as the replay reads it (`QueuedLetter`'s fields it uses)."""

    receipt: str
    letter: DeadLetter | None


@dataclass
class MemoryReplayQueue:
    """The dead-letter queue as the receiver writes it and the replay reads it: SendMessageBatch
    (10 entries a call, the message body SQS would hold), ReceiveMessage (at most 10 visible
    messages, each hidden until it is deleted or released), DeleteMessage, and
    ChangeMessageVisibility 0 (release)."""

    messages: dict[str, str] = field(default_factory=dict)  # message id -> body, in order
    hidden: set[str] = field(default_factory=set)
    batches: int = 0
    _sent: int = 0

    @property
    def letters(self) -> list[DeadLetter]:
        return [DeadLetter.model_validate_json(body) for body in self.messages.values()]

    def send(self, letters: Sequence[DeadLetter], delay_seconds: int = 0) -> list[DeadLetter]:
        for start in range(0, len(letters), SQS_BATCH_ENTRIES):
            self.batches += 1
            for letter in letters[start : start + SQS_BATCH_ENTRIES]:
                body = letter.to_message_body()
                assert len(body.encode()) <= MAX_LETTER_BYTES, "SQS would refuse this letter"
                self._sent += 1
                self.messages[f"m{self._sent}"] = body
        return []

    def receive(self, max_messages: int = 10) -> list[Received]:
        visible = [ident for ident in self.messages if ident not in self.hidden]
        taken = visible[: min(max_messages, SQS_BATCH_ENTRIES)]
        self.hidden.update(taken)
        return [Received(i, DeadLetter.model_validate_json(self.messages[i])) for i in taken]

    def delete(self, receipt: str) -> None:
        self.messages.pop(receipt, None)
        self.hidden.discard(receipt)

    def release(self, receipt: str) -> None:
        self.hidden.discard(receipt)
