"""One lock per key while some thread holds or waits for it: a delivery's events run on several
threads, and two of them must not both create the Skipcall contact or the named sequence that
only one of them should (Skipcall cannot tell a second create from a first).

This orders threads of one container only. Across containers the link table's conditional
writes decide, as before; the lock spares a thread that race inside its own process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}  # key -> (lock, users)

    @contextmanager
    def hold(self, key: str, timeout: float) -> Iterator[bool]:
        """Hold `key`'s lock for the block; yields False when it was not free within `timeout`
        seconds (the caller goes on without it: the table's conditions still decide)."""
        with self._guard:
            lock, users = self._locks.get(key, (None, 0))
            if lock is None:
                lock = threading.Lock()
            self._locks[key] = (lock, users + 1)
        acquired = lock.acquire(timeout=max(timeout, 0.0))
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
            with self._guard:
                _, users = self._locks[key]
                if users == 1:
                    del self._locks[key]  # nobody else holds or waits: nothing kept per key
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)
