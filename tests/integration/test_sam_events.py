"""What `sam local invoke -e events/<file>.json --env-vars events/env.json` does, without Docker:
each sample event, with env.json's variables, into the real handler. moto and the sandbox stand
in for the dev stack the container reaches on the host's network (`make invoke`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3

from skipcall_bridge.runtime import current_runtime
from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge_dev import devdata
from skipcall_bridge_dev.events import DOCKER_HOST, write_events
from skipcall_bridge_dev.gateway import LocalContext
from skipcall_bridge_dev.moto_stack import MotoServer, seed_aws
from skipcall_bridge_dev.sandbox import SkipcallSandbox

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "sources.example.json"


@pytest.fixture
def sam_environment(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, SkipcallSandbox]]:
    urllib3.PoolManager().request("POST", f"{moto.url}/moto-api/reset")
    seed_aws(moto, load_sources(EXAMPLE))
    sandbox = SkipcallSandbox({devdata.API_KEY}, devdata.MEMBERS).start()
    write_events(EXAMPLE, tmp_path)
    variables = json.loads((tmp_path / "env.json").read_text())["ReceiverFunction"]
    docker_moto = f"http://{DOCKER_HOST}:{devdata.MOTO_PORT}"
    docker_sandbox = f"http://{DOCKER_HOST}:{devdata.SANDBOX_PORT}"
    for name, value in variables.items():
        local = value.replace(docker_moto, moto.url).replace(docker_sandbox, sandbox.url)
        monkeypatch.setenv(name, local)
    monkeypatch.setenv("SOURCES_CONFIG", str(EXAMPLE))  # sam build puts it at the zip root
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, devdata.REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    current_runtime.cache_clear()
    yield tmp_path, sandbox
    current_runtime.cache_clear()
    sandbox.stop()


def test_every_sample_event_is_accepted_as_sam_local_invoke_would_run_it(
    sam_environment: tuple[Path, SkipcallSandbox],
) -> None:
    from skipcall_bridge.handler import lambda_handler

    events_dir, sandbox = sam_environment
    samples = sorted(
        p for p in events_dir.glob("*.json") if p.name not in ("env.json", "health.json")
    )
    assert len(samples) == 31  # one per preset of sources.example.json
    for path in samples:
        event = json.loads(path.read_text())
        result = lambda_handler(event, LocalContext(25, "ReceiverFunction"))
        assert result["statusCode"] in (200, 201), (path.name, result["body"])
    health = json.loads((events_dir / "health.json").read_text())
    assert lambda_handler(health, LocalContext(25, "ReceiverFunction"))["statusCode"] == 200
    # 15 create samples (hubspot, make and salesforce hold two), and the 15 targets enrolled
    # into by name (hubspot-deals only takes out: it creates nothing)
    assert len(sandbox.sequences) == 33
