"""ReplayFunction's entry point: drain the DLQ for as long as this invocation allows."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from skipcall_bridge.common.observability import logger, metrics
from skipcall_bridge.letters.replay import ReplayFilter
from skipcall_bridge.runtime import current_runtime, replayer_of

# Left for the run to end cleanly (release what it holds, flush the metrics).
FINISH_SECONDS = 20


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    replayer = replayer_of(current_runtime())
    replayer.register(context)  # a run cut short holds its claims no longer than its time
    summary = replayer.run(
        ReplayFilter(max_messages=event.get("max") if isinstance(event, dict) else None),
        keep_going=lambda: context.get_remaining_time_in_millis() > FINISH_SECONDS * 1000,
    )
    metrics.add_metric(
        name="DeliveriesReplayed", unit=MetricUnit.Count, value=summary.total("replayed")
    )
    metrics.add_metric(
        name="ReplayFailures",
        unit=MetricUnit.Count,
        value=summary.total("failed") + summary.total("gave-up"),
    )
    return {"outcomes": summary.as_dict()}
