"""A TCP proxy on 127.0.0.1 in front of moto, for the tests and the benchmark.

It can be cut: AWS becomes unreachable, as in an outage. Cutting closes every open connection
too, so boto3's keep-alive connections fail like real ones. And it can delay each request
(`delay_seconds`): moto answers in well under a millisecond, DynamoDB and SQS in-region in
about 8 ms. Each chunk a client sends (a request, over a kept-alive connection) waits that long.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import suppress


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, delay_seconds: float = 0.0) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._delay = delay_seconds
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._down = False
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def cut(self) -> None:
        with self._lock:
            self._down = True
            open_ = list(self._connections)
            self._connections.clear()
        for connection in open_:
            with suppress(OSError):
                connection.close()

    def restore(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                down = self._down
            if down:
                client.close()  # refused mid-handshake: a connection reset for the caller
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections.update((client, upstream))
            for source, target, delay in ((client, upstream, self._delay), (upstream, client, 0.0)):
                threading.Thread(target=_pump, args=(source, target, delay), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket, delay: float) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            if delay:
                time.sleep(delay)
            target.sendall(data)
    for end in (source, target):
        with suppress(OSError):
            end.close()
