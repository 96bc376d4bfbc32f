"""The composition root: builds the pipeline and its adapters once per container.

It loads the domain (pydantic models, templates) and the integrations when the first request
builds it, not when the handler is imported, so the cold start stays small; boto3 itself loads
later still, on the first AWS call. All AWS clients share one botocore session, so endpoint
and service data load once, and one `CallWindow`: the receiver binds each delivery's deadline
to it, so that every AWS call on its path fits in the time the sender waits.
"""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from skipcall_bridge.acting.memory_links import MemoryLinks
    from skipcall_bridge.acting.naming import SequenceNamer
    from skipcall_bridge.aws.dead_letter import SqsDeadLetterQueue
    from skipcall_bridge.aws.links import DynamoDbLinks
    from skipcall_bridge.aws.secrets import SecretsManagerStore
    from skipcall_bridge.common.budget import CallWindow
    from skipcall_bridge.common.ports import (
        ContactLinks,
        HookSecretKeeper,
        IdempotencyGuard,
        ReplayQueue,
        TokenLedger,
    )
    from skipcall_bridge.letters.replay import Replayer
    from skipcall_bridge.letters.worker import Worker
    from skipcall_bridge.receive.gateway_event import PublicUrl
    from skipcall_bridge.receive.pipeline import Pipeline
    from skipcall_bridge.settings import Settings
    from skipcall_bridge.skipcall.client import SkipcallClient
    from skipcall_bridge.skipcall.pacing import Pacing
    from skipcall_bridge.sources.catalog import SourceCatalog
    from skipcall_bridge.sources.identity import IdentityServices


Handler = TypeVar("Handler", bound=Callable[..., Any])


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    catalog: SourceCatalog
    pipeline: Pipeline
    skipcall: SkipcallClient
    dead_letters: SqsDeadLetterQueue
    work_queue: SqsDeadLetterQueue | None  # WORK_QUEUE_URL: what the worker finishes
    guard: IdempotencyGuard
    identity: IdentityServices
    namer: SequenceNamer
    secrets: SecretsManagerStore
    links: DynamoDbLinks | MemoryLinks
    pacing: Pacing  # where deferred events come back, shared by the receiver and the worker
    window: CallWindow  # how long the AWS calls of the running delivery may take

    def prepare(self) -> None:
        """The AWS clients a delivery of the longest budget starts with, built, nothing
        called, no secret read (SnapStart's snapshot)."""
        from skipcall_bridge.aws.idempotency import DynamoDbIdempotency
        from skipcall_bridge.aws.links import DynamoDbLinks
        from skipcall_bridge.receive.run import TAIL_SECONDS

        budgets = [self.catalog.get(name) for name in self.catalog.names]
        seconds = max((s.budget_seconds for s in budgets if s), default=4.0) + TAIL_SECONDS
        self.secrets.prepare(seconds)
        self.dead_letters.prepare(seconds)
        if self.work_queue is not None:
            self.work_queue.prepare(seconds)
        if isinstance(self.guard, DynamoDbIdempotency):
            self.guard.prepare(seconds)
        if isinstance(self.links, DynamoDbLinks):
            self.links.prepare(seconds)

    def public_url(self, source_name: str) -> PublicUrl:
        """The URL `source_name`'s senders call, as far as the configuration says it."""
        from skipcall_bridge.receive.gateway_event import PublicUrl

        source = self.catalog.get(source_name)
        own = source.config.public_url if source is not None else None
        return PublicUrl(source_url=own, base_url=self.settings.public_base_url)

    def renew(self) -> None:
        """After a SnapStart restore: a new Skipcall pool, and nothing cached from before."""
        self.skipcall.reconnect()
        self.secrets.forget()
        self.identity.forget()
        self.namer.forget()


def build_runtime(settings: Settings, wall_clock: Callable[[], float] = time.time) -> Runtime:
    """The composition root. `wall_clock`: when the event claims lapse (a test's own time)."""
    from skipcall_bridge.acting.naming import SequenceNamer
    from skipcall_bridge.aws.dead_letter import SqsDeadLetterQueue
    from skipcall_bridge.aws.secrets import SecretsManagerStore
    from skipcall_bridge.common.budget import CallWindow
    from skipcall_bridge.receive.pipeline import Pipeline
    from skipcall_bridge.skipcall.client import SkipcallClient
    from skipcall_bridge.skipcall.pacing import Pacing
    from skipcall_bridge.sources.catalog import load_sources

    catalog = load_sources(settings.sources_config)
    window = CallWindow()
    region = settings.aws_region
    secrets = SecretsManagerStore(
        settings.api_key_secret_id, settings.secrets_max_age_seconds, region, window
    )
    skipcall = SkipcallClient(settings.skipcall_api_url, secrets)
    dead_letters = SqsDeadLetterQueue(settings.dead_letter_queue_url, region, window)
    work_queue = (
        SqsDeadLetterQueue(settings.work_queue_url, region, window)
        if settings.work_queue_url
        else None
    )
    guard = idempotency_guard(settings, window, wall_clock)
    links = link_table(settings, window)
    identity = identity_services(settings, skipcall, links)
    namer = SequenceNamer(links)
    pacing = Pacing(
        lambda: skipcall.rate_limit, window_seconds=settings.skipcall_rate_window_seconds
    )
    pipeline = Pipeline(
        catalog,
        secrets,
        skipcall,
        dead_letters,
        max_body_bytes=settings.max_body_bytes,
        work_queue=work_queue,
        guard=guard,
        identity=identity,
        namer=namer,
        pacing=pacing,
        tokens=token_ledger(settings, window),
        window=window,
        hook_secrets=hook_secret_keeper(settings, secrets, window),
    )
    return Runtime(
        settings=settings,
        catalog=catalog,
        pipeline=pipeline,
        skipcall=skipcall,
        dead_letters=dead_letters,
        work_queue=work_queue,
        guard=guard,
        identity=identity,
        namer=namer,
        secrets=secrets,
        links=links,
        pacing=pacing,
        window=window,
    )


def link_table(settings: Settings, window: CallWindow | None = None) -> DynamoDbLinks | MemoryLinks:
    """LINKS_TABLE, or links kept per container when it is unset."""
    from skipcall_bridge.acting.memory_links import MemoryLinks
    from skipcall_bridge.aws.links import DynamoDbLinks

    if settings.links_table:
        return DynamoDbLinks(settings.links_table, settings.aws_region, window)
    return MemoryLinks()


def identity_services(
    settings: Settings, skipcall: SkipcallClient, links: ContactLinks
) -> IdentityServices:
    from skipcall_bridge.sources.directories import MemberDirectory, WorkspaceDirectory
    from skipcall_bridge.sources.identity import ContactResolver, IdentityServices

    return IdentityServices(
        MemberDirectory(skipcall, settings.members_cache_seconds),
        ContactResolver(skipcall, links),
        WorkspaceDirectory(skipcall, settings.members_cache_seconds),
    )


def hook_secret_keeper(
    settings: Settings, secrets: SecretsManagerStore, window: CallWindow | None = None
) -> HookSecretKeeper | None:
    """Where REST hooks' secrets are kept, and their windows: none without the deduplication
    table (a `hook-secret` source's handshake is then echoed only)."""
    if not settings.idempotency_table:
        return None
    from skipcall_bridge.aws.hook_secrets import AwsHookSecrets

    return AwsHookSecrets(settings.idempotency_table, secrets, settings.aws_region, window)


def token_ledger(settings: Settings, window: CallWindow | None = None) -> TokenLedger:
    """Single-use tokens beside the idempotency records (one table, one TTL), or in this
    container's memory without a table."""
    from skipcall_bridge.aws.token_ledger import DynamoDbTokenLedger
    from skipcall_bridge.common.ports import MemoryTokenLedger

    if settings.idempotency_table is None:
        return MemoryTokenLedger()
    return DynamoDbTokenLedger(settings.idempotency_table, settings.aws_region, window)


def idempotency_guard(
    settings: Settings,
    window: CallWindow | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> IdempotencyGuard:
    from skipcall_bridge.aws.idempotency import DynamoDbIdempotency
    from skipcall_bridge.common.ports import NoIdempotency

    if settings.idempotency_table is None:
        return NoIdempotency()
    return DynamoDbIdempotency(
        settings.idempotency_table,
        settings.idempotency_expires_after_seconds,
        settings.aws_region,
        window,
        wall_clock,
    )


@functools.cache
def current_runtime() -> Runtime:
    """The container's runtime. A ConfigurationError is not cached: a later request retries."""
    from skipcall_bridge.settings import Settings

    return build_runtime(Settings.from_environ())


def replayer_of(runtime: Runtime, queue: ReplayQueue | None = None) -> Replayer:
    """The container's replayer: the same sources, clients, table and settings, on the
    dead-letter queue; or, given the work queue, the worker's (its waits deferred, its failures
    kept on the event's key). Built here, where the parts are: the replay reads none of the
    runtime."""
    from skipcall_bridge.letters.replay import Replayer

    worker = queue is not None
    return Replayer(
        runtime.catalog,
        runtime.dead_letters if queue is None else queue,
        runtime.skipcall,
        runtime.guard,
        identity=runtime.identity,
        namer=runtime.namer,
        max_attempts=runtime.settings.replay_max_attempts,
        actor="worker" if worker else "replay",
    )


@functools.cache
def current_worker() -> Worker:
    """The container's worker: the replay's core on the work queue, without sleeping through
    Skipcall's rate-limit windows (a message waits hidden in the queue instead)."""
    from skipcall_bridge.common.errors import ConfigurationError
    from skipcall_bridge.letters.worker import Worker

    runtime = current_runtime()
    if runtime.work_queue is None:
        raise ConfigurationError("WORK_QUEUE_URL is not set: the worker has no queue.")
    skipcall = runtime.skipcall
    skipcall.ask_near_window_end()  # what was deferred to it is the worker's to finish
    return Worker(
        replayer_of(runtime, runtime.work_queue),
        runtime.work_queue,
        runtime.dead_letters,
        max_receives=runtime.settings.work_max_receive_count,
        rate_limit=lambda: skipcall.rate_limit,
        pacing=runtime.pacing,
    )


def frozen_after_first_call(handler: Handler) -> Handler:
    """The first invocation loads everything the container keeps: the runtime (pydantic
    validators, compiled templates), boto3 and its clients. The cyclic GC would scan that heap
    over and over while it grows, about a tenth of a cold first delivery, and again in every
    later full collection. So the first call runs with the collector paused, and what it built
    is then frozen out of the collector's reach (gc.freeze)."""
    cold = [True]

    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        if not cold:
            return handler(event, context)
        cold.clear()
        gc.disable()
        try:
            return handler(event, context)
        finally:
            gc.enable()
            gc.freeze()

    return invoke  # type: ignore[return-value]
