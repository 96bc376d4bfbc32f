"""A threaded HTTP server on a background thread: the shared shape of the sandbox and gateway,
answering only requests addressed to this machine by a local name."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

# The names a request may address a development server by. Any other Host is a page whose
# DNS name was rebound to 127.0.0.1 (DNS rebinding): a browser would let it read the inspector,
# its token and the resent requests, so it is refused (security review #28, finding 7).
# host.docker.internal is how `sam local invoke`'s container reaches `make dev HOST=0.0.0.0`.
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "host.docker.internal"})


def host_name(header: str) -> str:
    """`127.0.0.1:3000` -> 127.0.0.1, `[::1]:3000` -> ::1, `Localhost.` -> localhost."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rpartition(":")[0].rstrip(".") if ":" in header else header.rstrip(".")


def allowed_names(bind_host: str) -> frozenset[str]:
    """The local names, and the address the server was bound to when it names one."""
    every_interface = bind_host in ("", "0.0.0.0", "::")  # noqa: S104 - a name to leave out
    return LOCAL_NAMES | (set() if every_interface else {bind_host.lower()})


def addressed_locally(header: str | None, allowed: frozenset[str]) -> bool:
    return header is not None and host_name(header) in allowed


class BackgroundHTTPServer:
    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        allowed = allowed_names(host)

        class LocalOnly(handler):  # type: ignore[valid-type, misc]
            def parse_request(self) -> bool:
                if not super().parse_request():
                    return False
                if addressed_locally(self.headers.get("Host"), allowed):
                    return True
                self.send_error(421, "This development server answers only local names")
                return False

        self._server = ThreadingHTTPServer((host, port), LocalOnly)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where a client on this machine reaches the server: a server listening on every
        address is reached on the loopback (0.0.0.0 is no address to call, #30 item 16)."""
        host, port = self._server.server_address[:2]
        reachable = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - a name to map
        return f"http://{reachable!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
