"""`make dev`: moto (Secrets Manager, SQS, DynamoDB), the Skipcall sandbox and the local
gateway on 127.0.0.1, seeded from a sources file, with the real handler behind the gateway."""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.sources.catalog import SourceCatalog, load_sources
from skipcall_bridge_dev import devdata
from skipcall_bridge_dev.dev_keys import dev_credential
from skipcall_bridge_dev.gateway import LocalGateway
from skipcall_bridge_dev.inspector import Exchange, Inspector, Replayed
from skipcall_bridge_dev.moto_stack import (
    IDEMPOTENCY_TABLE,
    LINKS_TABLE,
    MOTO_HOST,
    WORK_MAX_RECEIVE_COUNT,
    MotoServer,
    create_work_queue,
    seed_aws,
    seed_signing_secrets,
)
from skipcall_bridge_dev.sandbox import SkipcallSandbox
from skipcall_bridge_dev.work_poller import WorkQueuePoller, worker_poller


@dataclass(frozen=True)
class StackEndpoints:
    gateway: str
    sandbox: str
    moto: str
    queue_url: str
    # the inspector's token, which the sandbox's /_sandbox/* control also asks for
    control_token: str = ""


class SourcesWatcher:
    """`make dev` follows the user's sources file: the receiver reads a copy of the last good
    version; a change that loads replaces it (new secrets seeded, the runtime rebuilt on the
    next request), a broken one is reported and the last good version stays."""

    def __init__(
        self,
        path: Path,
        live: Path,
        moto: MotoServer,
        say: Callable[[str], None],
        interval: float = 0.5,
    ) -> None:
        self._path = path
        self._live = live
        self._moto = moto
        self._say = say
        self._interval = interval
        self._seen = self._stamp()
        self._stop = threading.Event()
        self._names = set(load_sources(path).names)
        # a source added while it runs: its URL and dev credential, as the start-up listing
        # prints them (set once the gateway listens)
        self.describe: Callable[[SourceCatalog, str], str] | None = None
        live.write_bytes(path.read_bytes())
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> SourcesWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def check(self) -> None:
        stamp = self._stamp()
        if stamp == self._seen:
            return
        self._seen = stamp
        try:
            catalog = load_sources(self._path)
        except ConfigurationError as exc:
            self._say(f"sources not reloaded, the last good version stays:\n{exc}")
            return
        seed_signing_secrets(self._moto, catalog)
        self._live.write_bytes(self._path.read_bytes())
        from skipcall_bridge.runtime import current_runtime

        current_runtime.cache_clear()  # the next request builds the runtime from the new file
        self._say(f"sources reloaded from {self._path}: {', '.join(catalog.names)}")
        added = [name for name in catalog.names if name not in self._names]
        self._names = set(catalog.names)
        describe = self.describe
        if describe is not None:
            for name in added:
                self._say(f"new source:\n{describe(catalog, name)}")

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            self.check()

    def _stamp(self) -> tuple[float, int] | None:
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return stat.st_mtime, stat.st_size


def receiver_environment(
    moto_url: str,
    sandbox_url: str,
    queue_url: str,
    sources: Path,
    work_queue_url: str | None = None,
) -> dict[str, str]:
    work = (
        {"WORK_QUEUE_URL": work_queue_url, "WORK_MAX_RECEIVE_COUNT": str(WORK_MAX_RECEIVE_COUNT)}
        if work_queue_url
        else {}
    )
    return {
        **work,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": devdata.REGION,
        "AWS_DEFAULT_REGION": devdata.REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SKIPCALL_API_URL": sandbox_url,
        "SKIPCALL_API_KEY_SECRET_ID": devdata.API_KEY_SECRET_ID,
        "DEAD_LETTER_QUEUE_URL": queue_url,
        "SOURCES_CONFIG": str(sources.resolve()),
        "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
        "LINKS_TABLE": LINKS_TABLE,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "skipcall-bridge",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as template.yaml sets it
    }


def dev_stack_environment(sources: Path) -> dict[str, str]:
    """The environment of the running `make dev` stack (for the CLI): where its state file says
    it listens, else the default ports."""
    state = devdata.running_stack()
    moto = state.get("moto") or f"http://127.0.0.1:{devdata.MOTO_PORT}"
    sandbox = state.get("sandbox") or f"http://127.0.0.1:{devdata.SANDBOX_PORT}"
    queue_url = f"{moto}/123456789012/{devdata.DEAD_LETTER_QUEUE}"
    work_queue_url = f"{moto}/123456789012/{devdata.WORK_QUEUE}"
    return receiver_environment(moto, sandbox, queue_url, sources, work_queue_url)


def check_ports_free(host: str, ports: dict[str, tuple[int, str]]) -> None:
    """Each fixed port bindable, before anything starts: a taken one is named with the option
    that moves it, rather than failing deep inside a server (moto's would wait forever)."""
    for what, (port, option) in ports.items():
        if port == 0:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the servers bind: a connection of the last run in TIME_WAIT does not hold the
            # port, and a listening socket still does (#30 item 1).
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise ConfigurationError(
                    f"port {port} ({what}) is taken ({exc.strerror}): choose another with {option}"
                ) from None


class LocalStack:
    def __init__(
        self,
        sources_path: Path,
        *,
        host: str = "127.0.0.1",
        gateway_port: int = devdata.GATEWAY_PORT,
        sandbox_port: int = devdata.SANDBOX_PORT,
        moto_port: int = devdata.MOTO_PORT,
    ) -> None:
        self._sources_path = sources_path
        self._host = host
        self._ports = (gateway_port, sandbox_port, moto_port)
        self.moto: MotoServer | None = None
        self.sandbox: SkipcallSandbox | None = None
        self.gateway: LocalGateway | None = None
        self.watcher: SourcesWatcher | None = None
        self.worker: WorkQueuePoller | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="skipcall-bridge-dev-")

    def start(
        self,
        say: Callable[[str], None] = print,
        console: Callable[[Exchange], None] | None = None,
        quiet: bool = False,
    ) -> StackEndpoints:
        """Start everything; `say` hears of sources file reloads, `console` of every request
        and its answer. The inspector page is served at /_inspect."""
        gateway_port, sandbox_port, moto_port = self._ports
        catalog = load_sources(self._sources_path)  # fails before anything starts
        check_ports_free(self._host, {
            "the gateway": (gateway_port, "--gateway-port N (make dev PORT=N)"),
            "the Skipcall sandbox": (sandbox_port, "--sandbox-port N (make dev SANDBOX_PORT=N)"),
        })  # fmt: skip
        check_ports_free(MOTO_HOST, {"moto": (moto_port, "--moto-port N (make dev MOTO_PORT=N)")})
        # moto signs anything and holds the API key: never beyond this machine, whatever the
        # other servers listen on (security review #28, finding 7)
        self.moto = MotoServer(MOTO_HOST, moto_port).start()
        queue_url = seed_aws(self.moto, catalog)
        work_queue_url = create_work_queue(self.moto, devdata.WORK_QUEUE, queue_url)
        control_token = secrets.token_urlsafe(24)
        self.sandbox = SkipcallSandbox(
            {devdata.API_KEY}, devdata.MEMBERS, host=self._host, port=sandbox_port,
            control_token=control_token,
        ).start()  # fmt: skip
        live = Path(self._workdir.name) / "sources.json"
        self.watcher = SourcesWatcher(self._sources_path, live, self.moto, say).start()
        # The handler reads its settings from this process's environment, once.
        os.environ.update(
            receiver_environment(self.moto.url, self.sandbox.url, queue_url, live, work_queue_url)
        )
        from skipcall_bridge.handler import lambda_handler

        gateway = LocalGateway(lambda_handler, host=self._host, port=gateway_port, quiet=quiet)
        inspector = Inspector(
            resend=lambda exchange: gateway.send(
                exchange.method, exchange.path, exchange.headers, exchange.body,
                dict(exchange.headers).get("Host", self._host),
            ),
            replay=_replay_one,
            preview=lambda exchange: _mapped(live, exchange),
            token=control_token,
            secret_parameters=lambda: _query_credentials(live),
            say=say,
        )  # fmt: skip
        gateway.inspector = inspector
        gateway.observers = [*([console] if console else []), inspector.observe]
        self.gateway = gateway.start()
        gateway_url = self.gateway.url
        self.watcher.describe = lambda catalog, name: dev_credential(catalog, name, gateway_url)
        # WorkerFunction's event source, as on Lambda: batches of 10, ReportBatchItemFailures.
        self.worker = worker_poller(
            self.moto.client("sqs"),
            work_queue_url,
            region=devdata.REGION,
            report=lambda done, again: _worker_finished(say, inspector, done, again),
        ).start()
        # URL-signing senders (HubSpot) sign the URL they call; the handler's runtime loads on
        # the first request, so the bound port is known in time.
        os.environ["PUBLIC_BASE_URL"] = self.gateway.url
        return StackEndpoints(
            self.gateway.url, self.sandbox.url, self.moto.url, queue_url, control_token
        )

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self.watcher is not None:
            self.watcher.stop()
        for part in (self.gateway, self.sandbox, self.moto):
            if part is not None:
                part.stop()
        self._workdir.cleanup()


def report_replays(letters: list[tuple[str, str, str]]) -> None:
    """`replay --dev`'s letters and their outcomes, told to the running stack: its console
    prints the run and its inspector marks each event replayed. Nothing when none runs."""
    import urllib3

    state = devdata.running_stack()
    gateway, token = state.get("gateway"), state.get("token")
    if not gateway or not token or not letters:
        return
    try:
        urllib3.request(
            "POST", f"{gateway}/_inspect/replays", json={"letters": letters},
            headers={"X-Inspector-Token": token}, timeout=5, retries=False,
        )  # fmt: skip
    except urllib3.exceptions.HTTPError:
        return  # the stack stopped meanwhile: the replay itself is done all the same


def _query_credentials(live: Path) -> frozenset[str]:
    """The query parameters that carry a source's credential (query-key's `parameter`,
    Salesforce's `tokenParameter`), whatever they are called: the inspector redacts them."""
    try:
        catalog = load_sources(live)
    except ConfigurationError:
        return frozenset()
    names = set()
    for name in catalog.names:
        source = catalog.get(name)
        auth = source.config.auth if source is not None else None
        for field in ("parameter", "token_parameter"):
            value = getattr(auth, field, None)
            if isinstance(value, str):
                names.add(value)
    return frozenset(names)


def _replay_one(source: str, delivery_id: str, anyway: bool = False) -> Replayed:
    """The inspector's Replay button: the replay, for this one letter (`anyway`: also one
    held back for a person, as --include-unknown and --include-given-up send it)."""
    from skipcall_bridge.cli.dead_letters import summary_table  # the CLI's own table
    from skipcall_bridge.letters.replay import DONE, ReplayFilter
    from skipcall_bridge.runtime import current_runtime, replayer_of

    replayer = replayer_of(current_runtime())
    filters = ReplayFilter(source=source, delivery_id=delivery_id,
                           include_unknown=anyway, include_given_up=anyway)  # fmt: skip
    summary = replayer.run(filters)
    done = any(summary.total(outcome) for outcome in DONE)
    if not summary.held_back:
        return Replayed(summary_table(summary), done)
    _, _, why, may = summary.held_back[0]  # the one letter asked for
    return Replayed(summary_table(summary), done, held_back=why, anyway=may)


def _mapped(sources: Path, exchange: Exchange) -> dict[str, Any]:
    """What each event of a delivery maps to, with the sources file as it is now."""
    from skipcall_bridge.verify import Headers, SignedRequest
    from skipcall_bridge_dev.preview import event_dtos

    try:
        catalog = load_sources(sources)
    except ConfigurationError:
        return {}
    source = catalog.get(exchange.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
    if source is None:
        return {}
    request = SignedRequest(exchange.method, exchange.path, exchange.body,
                            Headers(dict(exchange.headers)))  # fmt: skip
    return event_dtos(source, request)


def _worker_finished(
    say: Callable[[str], None], inspector: Inspector, done: list[tuple[str, str]], again: int
) -> None:
    """One batch of the work queue: a console line, and each finished event on the inspector."""
    for source, delivery_id in done:
        inspector.finished(source, delivery_id)
    waiting = f", {again} waiting again (Skipcall's rate limit or a failure)" if again else ""
    ids = ", ".join(delivery_id for _, delivery_id in done[:5]) + (" …" if len(done) > 5 else "")
    finished = f"{len(done)} deferred event{'s' if len(done) != 1 else ''} finished"
    say(f"worker: {finished}{f' ({ids})' if done else ''}{waiting}")
