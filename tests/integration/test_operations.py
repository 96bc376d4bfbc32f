"""The dashboard and the alarms read what the code emits: every SkipcallBridge metric a widget or
an alarm names, with its dimensions, is one the real handler and the real replay function put in
their EMF output while doing their work."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from cfnlint.decode import cfn_yaml

from skipcall_bridge.common.observability import NAMESPACE
from skipcall_bridge.runtime import current_runtime, current_worker
from skipcall_bridge_dev.gateway import LocalContext
from skipcall_bridge_dev.moto_stack import create_work_queue
from skipcall_bridge_dev.work_poller import worker_poller

from .conftest import EVENT, Receiver

ROOT = Path(__file__).resolve().parents[2]
Reference = tuple[str, frozenset[str]]  # metric name, dimension names
SEARCH = re.compile(r"SEARCH\('\{([^}]*)\} MetricName=\"(\w+)\"")


def emitted(output: str) -> set[Reference]:
    found: set[Reference] = set()
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
            if directive["Namespace"] != NAMESPACE:
                continue
            for metric in directive["Metrics"]:
                found.update(
                    (metric["Name"], frozenset(dimensions))
                    for dimensions in directive["Dimensions"]
                )
    return found


def template_references() -> tuple[set[Reference], list[str]]:
    """Every SkipcallBridge metric the dashboard and the alarms read, and every alarm's text."""
    resources = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]
    references: set[Reference] = set()
    descriptions = []

    def metric(namespace: str, name: str, dimensions: list[dict[str, Any]]) -> None:
        if namespace == NAMESPACE:
            references.add((name, frozenset(d["Name"] for d in dimensions)))

    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            descriptions.append(str(properties.get("AlarmDescription", "")))
            if "MetricName" in properties:
                metric(properties["Namespace"], properties["MetricName"],
                       properties.get("Dimensions", []))  # fmt: skip
            for query in properties.get("Metrics", []):
                if "MetricStat" in query:
                    stat = query["MetricStat"]["Metric"]
                    metric(stat["Namespace"], stat["MetricName"], stat.get("Dimensions", []))
        if resource["Type"] == "AWS::CloudWatch::Dashboard":
            body = re.sub(r"\$\{[^}]+\}", "x", str(properties["DashboardBody"]["Fn::Sub"]))
            for widget in json.loads(body)["widgets"]:
                for line in widget["properties"].get("metrics", []):
                    if isinstance(line[0], dict):
                        match = SEARCH.search(line[0]["expression"])
                        assert match, line
                        namespace, *dimensions = match.group(1).split(",")
                        references.add((match.group(2), frozenset(dimensions)))
                        assert namespace == NAMESPACE
                    elif line[0] == NAMESPACE:
                        names = [item for item in line[2:] if isinstance(item, str)][::2]
                        references.add((line[1], frozenset(names)))
    return references, descriptions


def run_the_worker(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deferred events (EventsDeferred), then WorkerFunction: one done, one waiting again after
    503s, one dead-lettered after a 500 (its outcome unknown)."""

    from skipcall_bridge.receive import pipeline

    monkeypatch.setattr(pipeline, "DEAD_LETTER_RESERVE_SECONDS", 25.0)  # no budget
    monkeypatch.setattr(pipeline, "TAIL_SECONDS", 20.0)  # as the no_budget fixture
    work_queue_url = create_work_queue(receiver.moto, "ops-work", receiver.queue_url)
    monkeypatch.setenv("WORK_QUEUE_URL", work_queue_url)
    current_runtime.cache_clear()
    current_worker.cache_clear()
    poller = worker_poller(receiver.moto.client("sqs"), work_queue_url)
    for name, fault in (("done", None), ("again", 503), ("unknown", 500)):
        answer = receiver.bearer({**EVENT, "name": f"deferred {name}"})
        assert answer.status == 202
        assert answer.body["events"][0]["status"] == "deferred"
        if fault is not None:
            receiver.sandbox.inject("status", status=fault, count=4)
        assert poller.poll_once() == 1
    assert (poller.counts.deleted, poller.counts.returned) == (2, 1)
    current_worker.cache_clear()


def test_every_metric_the_dashboard_and_alarms_read_is_emitted(
    receiver: Receiver, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from skipcall_bridge.replay_handler import lambda_handler as replay_handler

    cold_start.reset_cold_start_flag()
    capfd.readouterr()
    assert receiver.bearer(EVENT).status == 201  # received, created, latency, cold start
    assert receiver.post("zapier", EVENT, {"Authorization": "Bearer wrong"}).status == 401
    assert receiver.bearer({"name": "unmapped"}).status == 422  # dead-lettered by reason
    saved = set(receiver.sandbox.state.api_keys)
    receiver.sandbox.state.api_keys = set()  # a revoked key: 401 twice
    assert receiver.bearer({**EVENT, "name": "refused"}).status == 202
    receiver.sandbox.state.api_keys = saved
    cold_start.reset_cold_start_flag()
    outcomes = replay_handler({}, LocalContext(60, "ReplayFunction"))
    assert outcomes["outcomes"]
    receiver.sandbox.inject("status", status=503, count=100)
    assert receiver.bearer({**EVENT, "name": "failing"}).status == 202
    replay_handler({}, LocalContext(60, "ReplayFunction"))  # ReplayFailures
    receiver.sandbox.reset()
    receiver.sandbox.inject("status", status=429, count=4)  # throttled past the budget
    assert receiver.bearer({**EVENT, "name": "throttled"}).status == 202
    receiver.sandbox.reset()
    run_the_worker(receiver, monkeypatch)
    output = capfd.readouterr().out

    code = emitted(output)
    references, descriptions = template_references()
    assert len(references) >= 10
    missing = sorted((name, sorted(dims)) for name, dims in references - code)
    assert not missing, f"read by the template but never emitted so: {missing}"
    assert all(len(text) > 40 for text in descriptions), "an alarm without a first response"
