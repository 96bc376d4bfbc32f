"""SnapStart (the template's `SnapStart` parameter): what the snapshot holds, and what a restored
container renews. The hooks are registered when the handler module is imported, if the runtime
offers `snapshot_restore_py` (Lambda's Python runtimes do; in development, the PyPI package).

Before the snapshot: the runtime is built (settings, the sources file, compiled templates, the
pydantic models, every AWS client), with no network call and no secret read, and the garbage
collector's view of it is frozen. After restore: Skipcall gets a new connection pool, the secret,
directory and name caches are emptied, `random` is reseeded (every copy of the snapshot would
otherwise draw the same numbers), and Powertools counts the next invocation as a cold start.
"""

from __future__ import annotations

import gc
import random


def register() -> bool:
    """Register the hooks; False when the runtime has no SnapStart hooks to offer."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True


def before_snapshot() -> None:
    from skipcall_bridge.common.envelope import DeadLetter, Target, not_sqs_text
    from skipcall_bridge.common.failures import ErrorInfo
    from skipcall_bridge.runtime import current_runtime
    from skipcall_bridge.skipcall.models import (
        AddContactsBody,
        EnrolmentItem,
        RemoveContactsBody,
    )

    runtime = current_runtime()
    runtime.prepare()
    # Models whose validators are built on first use elsewhere: built once, into the snapshot.
    for model in (
        ErrorInfo,
        Target,
        DeadLetter,
        EnrolmentItem,
        AddContactsBody,
        RemoveContactsBody,
    ):
        model.model_rebuild(force=True)
    not_sqs_text()  # the letters' character check, compiled
    gc.collect()
    gc.freeze()


def after_restore() -> None:
    from aws_lambda_powertools.logging import logger as powertools_logging
    from aws_lambda_powertools.metrics.provider import cold_start
    from aws_lambda_powertools.tracing import tracer

    from skipcall_bridge.runtime import current_runtime

    current_runtime().renew()
    random.seed()
    powertools_logging.is_cold_start = True
    cold_start.is_cold_start = True
    tracer.is_cold_start = True
