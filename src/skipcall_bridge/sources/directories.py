"""Skipcall's directories as a container keeps them: the users (`member()` by email) and the
workspaces' members (an enrolment's assignee), each read in full, cached, and read again on a
miss at most once per MIN_REFRESH_SECONDS; and the two ways resolving someone fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from skipcall_bridge.common.budget import Deadline
from skipcall_bridge.common.observability import logger, metrics
from skipcall_bridge.common.ports import UserDirectory, WorkspaceApi
from skipcall_bridge.skipcall.models import CallFailed

# Repeated misses (an unknown owner in every event) must not turn into a stream of directory
# reads against the rate limit: one refresh per this many seconds at most.
MIN_REFRESH_SECONDS = 10.0


class IdentityError(Exception):
    """The event names someone who cannot be resolved: a mapping failure, naming them."""


class DirectoryUnavailable(Exception):
    """Skipcall could not answer a directory or contact call: the event waits in the DLQ."""

    def __init__(self, failure: CallFailed) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class ReadSchedule:
    """When a directory read from Skipcall is reused and when it is read again: stale after its
    time to live; a miss in a fresh read re-reads it at most every MIN_REFRESH_SECONDS."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._read_at: float | None = None
        self._reading = threading.Lock()

    def read_if_due(self, refresh: Callable[[], None]) -> None:
        """Run `refresh` when a read is due. A delivery's events resolve on several threads:
        the ones that arrive during a read wait for it and use what it read."""
        with self._reading:
            if self.may_read_again(self._clock()):
                refresh()

    def now(self) -> float:
        return self._clock()

    def stale(self, now: float) -> bool:
        return self._read_at is None or now - self._read_at > self._ttl

    def may_read_again(self, now: float) -> bool:
        return self.stale(now) or now - (self._read_at or 0) >= MIN_REFRESH_SECONDS

    def read(self) -> None:
        self._read_at = self._clock()

    def forget(self) -> None:
        self._read_at = None


class MemberDirectory:
    def __init__(
        self,
        users: UserDirectory,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = users
        self._schedule = ReadSchedule(ttl_seconds, clock)
        self._by_email: dict[str, str] = {}

    def forget(self) -> None:
        self._by_email = {}
        self._schedule.forget()

    def email_of(self, member: str) -> str | None:
        """The email of an organization member, as of the last read (None if never read)."""
        return next((email for email, known in self._by_email.items() if known == member), None)

    def resolve(self, email: str, deadline: Deadline) -> str | None:
        key = email.strip().lower()
        now = self._schedule.now()
        if not self._schedule.stale(now) and key in self._by_email:
            metrics.add_metric(name="MemberCacheHits", unit=MetricUnit.Count, value=1)
            return self._by_email[key]
        self._schedule.read_if_due(lambda: self._refresh(deadline))
        return self._by_email.get(key)

    def _refresh(self, deadline: Deadline) -> None:
        users = self._users.list_users(deadline)
        if isinstance(users, CallFailed):
            raise DirectoryUnavailable(users)
        self._by_email = {
            email.strip().lower(): member
            for user in users
            if isinstance(user, dict)
            and isinstance(email := user.get("email"), str)
            and isinstance(member := user.get("organizationMembershipId") or user.get("id"), str)
        }
        self._schedule.read()
        metrics.add_metric(name="MemberDirectoryReads", unit=MetricUnit.Count, value=1)
        logger.info("Skipcall users read", extra={"users": len(self._by_email)})


class WorkspaceDirectory:
    """Organization member -> their workspace membership ids, the assignee ids that enrolment
    takes. Read from every workspace the key can access, or the source's `workspaceId`;
    members of another status than ACTIVE are left out."""

    def __init__(
        self,
        api: WorkspaceApi,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._schedule = ReadSchedule(ttl_seconds, clock)
        # (workspace id, organization membership id or email) -> workspace membership id
        self._memberships: list[tuple[str, set[str], str]] = []

    def resolve(
        self, member: str, email: str | None, workspace_id: str | None, deadline: Deadline
    ) -> str:
        """Raises IdentityError (no or several memberships) or DirectoryUnavailable."""
        now = self._schedule.now()
        found = [] if self._schedule.stale(now) else self._find(member, email, workspace_id)
        if not found:
            self._schedule.read_if_due(lambda: self._refresh(deadline))
            found = self._find(member, email, workspace_id)
        if len(found) == 1:
            return found[0]
        who = email or member
        if not found:
            raise IdentityError(f"assignTo: {who} has no active workspace membership")
        raise IdentityError(
            f"assignTo: {who} is a member of {len(found)} workspaces; set the source's "
            "workspaceId to the sequence's workspace"
        )

    def forget(self) -> None:
        self._memberships = []
        self._schedule.forget()

    def _find(self, member: str, email: str | None, workspace_id: str | None) -> list[str]:
        keys = {member} | ({email.lower()} if email else set())
        return [
            membership
            for workspace, names, membership in self._memberships
            if names & keys and (workspace_id is None or workspace == workspace_id)
        ]

    def _refresh(self, deadline: Deadline) -> None:
        workspaces = self._api.list_workspaces(deadline)
        if isinstance(workspaces, CallFailed):
            raise DirectoryUnavailable(workspaces)
        memberships: list[tuple[str, set[str], str]] = []
        for workspace in workspaces:
            workspace_id = workspace.get("id") if isinstance(workspace, dict) else None
            if not isinstance(workspace_id, str):
                continue
            members = self._api.list_workspace_members(workspace_id, deadline)
            if isinstance(members, CallFailed):
                raise DirectoryUnavailable(members)
            memberships += [
                (workspace_id, names, item["id"])
                for item in members
                if isinstance(item, dict) and isinstance(item.get("id"), str)
                and item.get("status", "ACTIVE") == "ACTIVE"
                and (names := _member_names(item))
            ]  # fmt: skip
        self._memberships = memberships
        self._schedule.read()
        metrics.add_metric(name="WorkspaceDirectoryReads", unit=MetricUnit.Count, value=1)


def _member_names(item: dict[str, Any]) -> set[str]:
    """What identifies a workspace member's person: its organization membership id and email
    (top level, or under `organizationMembership` / `user`: the shape is not documented)."""
    names: set[str] = set()
    for holder in (item, item.get("organizationMembership"), item.get("user")):
        if not isinstance(holder, dict):
            continue
        for key in ("organizationMembershipId", "email"):
            value = holder.get(key)
            if isinstance(value, str) and value:
                names.add(value.lower() if key == "email" else value)
        if holder is not item and isinstance(holder.get("id"), str):
            names.add(holder["id"])
    return names
