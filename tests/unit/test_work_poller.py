"""The local work queue event source: one process is one WorkerFunction container, so its
pollers take turns (Lambda runs one invocation at a time in a container, and the handler keeps
the invocation's batch at module level: run at once, one invocation reported another's messages
and deleted one never worked)."""

from __future__ import annotations

import json
from typing import Any

from skipcall_bridge_dev.work_poller import INVOCATIONS, WorkQueuePoller


class OneBatch:
    """SQS's receive and delete for a queue holding one batch."""

    def __init__(self, *bodies: str) -> None:
        self.messages = [
            {"MessageId": f"m-{body}", "ReceiptHandle": f"r-{body}", "Body": json.dumps(body)}
            for body in bodies
        ]
        self.deleted: list[str] = []

    def receive_message(self, **_: Any) -> dict[str, Any]:
        messages, self.messages = self.messages, []
        return {"Messages": messages}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> None:
        self.deleted += [entry["ReceiptHandle"] for entry in Entries]


def test_the_pollers_of_one_process_invoke_the_handler_one_at_a_time() -> None:
    held: list[bool] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # the process-wide turn is taken for the whole invocation: no other poller is inside
        held.append(not INVOCATIONS.acquire(blocking=False))
        return {"batchItemFailures": []}

    queues = [OneBatch("a"), OneBatch("b")]
    pollers = [WorkQueuePoller(queue, "https://sqs/1/work", handler, lambda: None)
               for queue in queues]  # fmt: skip
    assert [poller.poll_once() for poller in pollers] == [1, 1]
    assert held == [True, True]
    assert not INVOCATIONS.locked()  # and released after
    assert [queue.deleted for queue in queues] == [["r-a"], ["r-b"]]
