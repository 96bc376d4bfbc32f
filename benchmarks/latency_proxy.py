"""A TCP proxy on 127.0.0.1 that delays each request by a fixed time: moto answers in well under a
millisecond, DynamoDB and SQS in-region in about 8 ms. Each chunk the client sends (a request's
headers and body, over a kept-alive connection) waits `delay` before it goes on."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import suppress


class LatencyProxy:
    def __init__(self, upstream_host: str, upstream_port: int, delay_seconds: float) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._delay = delay_seconds
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        self._closed = True
        with suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream, timeout=30)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, delayed: bool) -> None:
        with suppress(OSError):
            while chunk := source.recv(65536):
                if delayed:
                    time.sleep(self._delay)
                target.sendall(chunk)
        for end in (source, target):
            with suppress(OSError):
                end.close()
