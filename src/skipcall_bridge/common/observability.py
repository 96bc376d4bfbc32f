"""The one Logger and Metrics of the process (Powertools), shared by every module, and tracing.

The Powertools Tracer loads the X-Ray SDK and botocore as soon as it is created, even when
disabled: about 150 ms and 20 MiB of cold start that nothing needs until a trace is recorded.
So it is created on the first invocation, and only where tracing is on (on Lambda, unless
POWERTOOLS_TRACE_DISABLED).
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricResolution, MetricUnit, single_metric
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

SERVICE = "skipcall-bridge"
NAMESPACE = "SkipcallBridge"


class SerialisedEMF(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider, one addition at a time. A delivery's events run on several
    threads, and the provider reads a metric's values, appends and stores them back: two
    threads adding the same metric at once would lose one value."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._adding = threading.RLock()  # re-entered when the 100th metric flushes the set

    def add_metric(
        self,
        name: str,
        unit: MetricUnit | str,
        value: float,
        resolution: MetricResolution | int = 60,
    ) -> None:
        with self._adding:
            super().add_metric(name=name, unit=unit, value=value, resolution=resolution)


logger = Logger(service=SERVICE)
# The provider shares Metrics' class-level sets, as the one Metrics builds for itself does.
metrics = Metrics(
    provider=SerialisedEMF(
        service=SERVICE,
        namespace=NAMESPACE,
        metric_set=Metrics._metrics,
        dimension_set=Metrics._dimensions,
        metadata_set=Metrics._metadata,
        default_dimensions=Metrics._default_dimensions,
    )
)
# A health check, a handshake or a refused route records no metric, and Powertools warns of an
# empty flush on each (a Python warning in the logs): nothing is wrong, so it is not said.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def per_source(source: str) -> None:
    """From now until the invocation's metrics are flushed, each metric is published twice:
    under [service] (what the alarms read) and under [service, source] (the dashboard's rows).
    Only a configured source's name is used: a request path never makes a dimension. Added once
    per flush: Powertools checks every set on each addition, so repeats would cost O(n)."""
    dimensions = {"service": SERVICE, "source": source}
    if dimensions not in metrics.provider.dimension_sets:
        metrics.add_dimensions(**dimensions)


def count_by_reason(name: str, source: str, counts: dict[str, int]) -> None:
    """One metric per reason, under [service, source, reason] (EMF's own blob per reason)."""
    for reason, count in counts.items():
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=count,
            namespace=NAMESPACE,
            default_dimensions={"service": SERVICE, "source": source},
        ) as metric:
            metric.add_dimension(name="reason", value=reason)


Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true", "yes")
    in_lambda = "AWS_LAMBDA_FUNCTION_NAME" in os.environ and "AWS_SAM_LOCAL" not in os.environ
    return in_lambda and not disabled


def traced(handler: Handler) -> Handler:
    """`Tracer.capture_lambda_handler`, with the Tracer created on the first invocation."""
    chosen: list[Callable[..., Any]] = []

    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        if not chosen:
            target: Callable[..., Any] = handler
            if tracing_enabled():
                target = Tracer(service=SERVICE).capture_lambda_handler(
                    handler, capture_response=False
                )
            chosen.append(target)
        return chosen[0](event, context)

    return invoke  # type: ignore[return-value]
