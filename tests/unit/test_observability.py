"""Metrics per source: each source's dimension set is added once until the next flush."""

from __future__ import annotations

from skipcall_bridge.observability import metrics, per_source


def test_a_source_dimension_set_is_added_once_per_flush() -> None:
    metrics.clear_metrics()
    for _ in range(1000):
        per_source("hubspot")
        per_source("zapier")
    sets = metrics.provider.dimension_sets
    assert sets == [
        {"service": "skipcall-bridge", "source": "hubspot"},
        {"service": "skipcall-bridge", "source": "zapier"},
    ]
    metrics.clear_metrics()
    assert metrics.provider.dimension_sets == []
