"""One WorkerFunction container for `batches.py`: a process of its own (its own runtime, Skipcall
client and AWS clients, as each Lambda container has), fed by the work queue's event source as
Lambda's SQS event source feeds it. It runs until its standard input closes."""

from __future__ import annotations

import os
import sys

from skipcall_bridge_dev.quick_sqs import client
from skipcall_bridge_dev.work_poller import worker_poller


def main() -> None:
    poller = worker_poller(client(os.environ["AWS_ENDPOINT_URL_SQS"]), os.environ["WORK_QUEUE_URL"])
    poller.start()
    sys.stdin.read()
    poller.stop()


if __name__ == "__main__":
    main()
