"""SnapStart's hooks, run in one process as Lambda runs them: before the snapshot nothing opens a
socket or reads a secret, yet everything is loaded; after restore no connection, secret or
directory from before is used, random draws differ from the snapshot's, and the next invocation
is a cold start for Powertools."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import snapshot_restore_py
from aws_lambda_powertools.logging import logger as powertools_logging
from aws_lambda_powertools.metrics.provider import cold_start

from skipcall_bridge import snapstart
from skipcall_bridge.runtime import current_runtime

from .conftest import EVENT, Receiver


@pytest.fixture
def sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[socket.socket]]:
    """Every socket that connects from now on."""
    opened: list[socket.socket] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        opened.append(self)
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return opened


def test_the_handler_registers_both_hooks() -> None:
    import skipcall_bridge.handler  # noqa: F401 - registers at import

    assert (snapstart.before_snapshot, (), {}) in snapshot_restore_py.get_before_snapshot()
    assert (snapstart.after_restore, (), {}) in snapshot_restore_py.get_after_restore()


def test_the_snapshot_holds_everything_and_no_connection_or_secret(
    receiver: Receiver, sockets: list[socket.socket], secret_reads: list[str]
) -> None:
    snapstart.before_snapshot()
    runtime = current_runtime()
    assert sockets == []  # no network call: not AWS, not Skipcall
    assert secret_reads == []  # no secret in the snapshot
    assert runtime.catalog.names == sorted(runtime.catalog.names)
    assert runtime.catalog.names
    assert runtime.secrets._clients.made == 1  # the clients are built
    assert runtime.dead_letters._clients.made == 1
    assert runtime.links._clients.made == 1  # type: ignore[union-attr]


def test_after_restore_nothing_from_before_the_snapshot_is_used(
    receiver: Receiver, sockets: list[socket.socket], secret_reads: list[str]
) -> None:
    assert receiver.bearer(EVENT).status == 201  # a connection and a secret from "before"
    runtime = current_runtime()
    pool_before = runtime.skipcall._transport._pool
    before = [s for s in sockets if _peer(s) == _port(receiver.sandbox.url)]
    assert before
    assert all(s.fileno() != -1 for s in before)
    reads = len(secret_reads)
    snapstart.before_snapshot()
    state = random.getstate()  # what every copy of the snapshot would draw
    snapstart.after_restore()
    assert all(s.fileno() == -1 for s in before)  # closed, not carried over
    assert runtime.skipcall._transport._pool is not pool_before
    assert random.random() != _draw(state)
    assert powertools_logging.is_cold_start  # the next invocation is logged as a cold start
    assert cold_start.is_cold_start  # ... and counted as one (the ColdStart metric)
    assert receiver.bearer({**EVENT, "name": "after restore"}).status == 201
    assert not powertools_logging.is_cold_start  # that invocation took it
    assert not cold_start.is_cold_start
    after = [s for s in sockets if _peer(s) == _port(receiver.sandbox.url) and s not in before]
    assert len(after) == 1  # a new connection
    assert len(secret_reads) > reads  # the secrets are read again, not taken from the snapshot


def _peer(sock: socket.socket) -> int | None:
    try:
        return int(sock.getpeername()[1])
    except OSError:
        return None


def _draw(state: Any) -> float:
    generator = random.Random()
    generator.setstate(state)
    return generator.random()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])
