"""Metrics per source: each source's dimension set is added once until the next flush."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from skipcall_bridge.common.observability import metrics, per_source


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


def test_a_request_that_records_no_metric_prints_no_python_warning(tmp_path: Path) -> None:
    """#23 item 10: /health records no metric, and Powertools warned of the empty flush on every
    call (a UserWarning in the dev console and in the logs). `-W default` shows every warning
    that no filter of ours silences."""
    script = (
        "import json\n"
        "from skipcall_bridge_dev.gateway import to_event\n"
        "from skipcall_bridge.handler import lambda_handler\n"
        "class Context:\n"
        "    function_name, memory_limit_in_mb, aws_request_id = 'r', 256, 'id'\n"
        "    invoked_function_arn = 'arn:aws:lambda:us-east-1:123456789012:function:r'\n"
        "    def get_remaining_time_in_millis(self): return 20000\n"
        "event = to_event('GET', '/health', [('Host', 'h')], b'', 'h')\n"
        "print(lambda_handler(event, Context())['statusCode'])\n"
    )
    environment = {**os.environ, "SOURCES_CONFIG": str(tmp_path / "missing.json")}
    done = subprocess.run(  # noqa: S603 - this interpreter, on the package
        [sys.executable, "-W", "default", "-c", script],
        check=False, capture_output=True, text=True, env=environment, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip().endswith("503"), done.stderr  # misconfigured: the path still runs
    assert "No application metrics to publish" not in done.stderr
