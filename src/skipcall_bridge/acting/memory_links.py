"""The link table kept in memory, for when LINKS_TABLE is unset (and for previews and tests):
links live as long as the container, so another container may create the same contact or
sequence again."""

from __future__ import annotations

import threading

from skipcall_bridge.common.ports import NameLink, shared_key


class MemoryLinks:
    """Contact links and sequence names, with the same conditional semantics as the table."""

    def __init__(self) -> None:
        self._contacts: dict[str, str] = {}
        self._names: dict[str, NameLink] = {}
        self._lock = threading.Lock()

    def get(self, link_id: str) -> str | None:
        return self._contacts.get(link_id)

    def put(self, link_id: str, contact_id: str) -> None:
        self._contacts[link_id] = contact_id

    def lookup(self, name: str) -> NameLink | None:
        return self._names.get(name)

    def claim(self, name: str, token: str, now: float) -> bool:
        with self._lock:
            if name in self._names:
                return False
            self._names[name] = NameLink(
                "creating", claimed_by=token, claimed_at=now, shared=shared_key(name)
            )
            return True

    def link(self, name: str, sequence_id: str) -> None:
        self._names[name] = NameLink("linked", sequence_id=sequence_id, shared=shared_key(name))

    def settle(self, name: str, sequence_id: str) -> bool:
        with self._lock:
            link = self._names.get(name)
            if link is not None and link.sequence_id is not None:
                return False
            self._names[name] = NameLink("linked", sequence_id=sequence_id, shared=shared_key(name))
            return True

    def adopt(self, name: str, sequence_id: str) -> bool:
        with self._lock:
            if name in self._names:
                return False
            self._names[name] = NameLink("linked", sequence_id=sequence_id)
            return True

    def mark_unknown(self, name: str, token: str) -> None:
        with self._lock:
            if self._owns(name, token):
                self._names[name] = NameLink("unknown", claimed_by=token)

    def release(self, name: str, token: str) -> None:
        with self._lock:
            if self._owns(name, token):
                del self._names[name]

    def forget(self, name: str) -> bool:
        with self._lock:
            return self._names.pop(name, None) is not None

    def _owns(self, name: str, token: str) -> bool:
        link = self._names.get(name)
        return link is not None and link.state == "creating" and link.claimed_by == token
