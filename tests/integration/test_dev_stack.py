"""The dev stack's own servers (#30 items 1 and 15): a restart finds its ports free while the
last run's connections linger, and a quiet gateway drops the handler's output without touching
what the rest of the process prints."""

from __future__ import annotations

import errno
import socket
import threading
from typing import Any

import pytest
from aws_lambda_powertools import Metrics

from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.common.observability import logger
from skipcall_bridge_dev.gateway import LocalGateway
from skipcall_bridge_dev.stack import check_ports_free


def _port_in_time_wait() -> int:
    """A port whose listener is closed while a connection it accepted waits in TIME_WAIT: what
    stopping `make dev` leaves after a browser had the inspector open."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first: its end waits in TIME_WAIT
        assert client.recv(1) == b""  # its FIN arrived
        client.close()
    return port


def test_a_port_the_last_run_left_in_time_wait_is_free() -> None:
    port = _port_in_time_wait()
    with socket.socket() as plain, pytest.raises(OSError, match="in use") as refused:
        plain.bind(("127.0.0.1", port))  # what the probe did: refused for about a minute
    assert refused.value.errno == errno.EADDRINUSE
    check_ports_free("127.0.0.1", {"the gateway": (port, "--gateway-port N")})


def test_a_port_another_server_listens_on_is_still_taken() -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        with pytest.raises(ConfigurationError, match=f"port {port} \\(the gateway\\) is taken"):
            check_ports_free("127.0.0.1", {"the gateway": (port, "--gateway-port N")})


def test_a_quiet_gateway_drops_its_metrics_but_not_what_others_print(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    metrics = Metrics(namespace="DevStackTest", service="dev")
    entered, release = threading.Event(), threading.Event()

    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        metrics.add_metric(name="Delivered", unit="Count", value=1)
        entered.set()
        assert release.wait(30)
        return {"statusCode": 200, "body": "{}"}

    log_handler = logger.registered_handler
    stream = getattr(log_handler, "stream", None)
    gateway = LocalGateway(handler, port=0, quiet=True).start()
    try:
        answered: list[dict[str, Any]] = []
        request = threading.Thread(
            target=lambda: answered.append(
                gateway.send("POST", "/webhooks/zapier", [], b"{}", "127.0.0.1")
            )
        )
        request.start()
        assert entered.wait(30)
        print("gateway http://127.0.0.1:3000")  # `make dev`'s listing, while a request runs
        release.set()
        request.join(30)
        assert answered[0]["statusCode"] == 200
    finally:
        release.set()
        gateway.stop()
        if stream is not None and hasattr(log_handler, "setStream"):
            log_handler.setStream(stream)
    printed = capsys.readouterr().out
    assert "gateway http://127.0.0.1:3000" in printed
    assert "DevStackTest" not in printed  # the handler's EMF line was dropped
