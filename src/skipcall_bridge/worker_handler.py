"""WorkerFunction's entry point: the work queue's SQS event source hands it a batch.

Powertools' batch processor reports each message that is not finished (ReportBatchItemFailures),
so only those come back; each was first hidden for as long as it must wait (the rate-limit
window, a backoff). A batch that is not finished at all is reported the same way, not raised:
an invocation error would count against the function and bring the whole batch back at once.

The messages of a batch are worked side by side (Powertools' AsyncBatchProcessor, each on a
thread of its own): one at a time, two workers at Skipcall's 120 ms a call finish about 12
events a second, under the 17 a second that a 1,000-a-minute plan allows. Each message is its
own claim, so two at once never act on one event twice; Skipcall's window is shared by all.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from skipcall_bridge.common.observability import logger, metrics
from skipcall_bridge.letters.worker import Verdict, Worker
from skipcall_bridge.runtime import current_worker

processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# SQS hands a function at most 10 messages a batch: one thread for each
_messages = ThreadPoolExecutor(max_workers=10, thread_name_prefix="work")


class NotFinished(Exception):
    """The message stays in the work queue and comes back (its wait is already set)."""


def work(worker: Worker, record: SQSRecord) -> Verdict:
    receives = int(record.attributes.approximate_receive_count or 1)
    verdict = worker.handle(record.body, receives)
    if not verdict.leaves:
        worker.postpone(record.receipt_handle, verdict.wait_seconds)
    return verdict


async def work_record(worker: Worker, record: SQSRecord) -> str:
    verdict = await asyncio.get_running_loop().run_in_executor(_messages, work, worker, record)
    # the metrics are added on the event loop's thread alone: Metrics is not thread-safe
    metrics.add_metric(name=_metric(verdict.kept), unit=MetricUnit.Count, value=1)
    if not verdict.leaves:
        raise NotFinished(verdict.kept)
    return verdict.kept


def _metric(kept: str) -> str:
    if kept in ("replayed", "already-created", "ignored"):
        return "DeferredEventsDone"
    return "DeferredEventsDeadLettered" if kept == "dead-lettered" else "DeferredEventsRetried"


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    worker = current_worker()
    worker.register(context)  # a run cut short holds its claims no longer than its time
    return dict(
        async_process_partial_response(
            event=event,
            record_handler=functools.partial(work_record, worker),
            processor=processor,
            context=context,
        )
    )
