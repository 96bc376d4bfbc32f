"""`check-deploy` asks each source's verifier whether a secret has the shape its scheme needs
(#30 item 9), by the scheme's own key derivation: what the receiver would answer 503 with."""

from __future__ import annotations

from pathlib import Path

import pytest

from skipcall_bridge.common.errors import ConfigurationError
from skipcall_bridge.sources.catalog import load_sources
from skipcall_bridge_dev.dev_keys import dev_secret_value

CATALOG = load_sources(Path(__file__).resolve().parents[2] / "sources.example.json")


@pytest.mark.parametrize("name", CATALOG.names)
def test_each_preset_takes_the_secret_its_sender_is_given_and_refuses_an_empty_one(
    name: str,
) -> None:
    source = CATALOG.get(name)
    assert source is not None
    kept = dev_secret_value(source)  # what `make dev` keeps under the source's secret
    if kept is None:
        return  # its keys are in the sources file, checked when it loads
    source.verifier.check_secret(kept)
    with pytest.raises(ConfigurationError):
        source.verifier.check_secret("   ")


@pytest.mark.parametrize(
    ("name", "secret", "why"),
    [
        ("zapier", "short", "at least"),
        ("n8n", "not-whsec", "whsec_"),
        ("hubspot", "tiny", "at least"),
    ],
)
def test_a_misshapen_secret_is_named(name: str, secret: str, why: str) -> None:
    source = CATALOG.get(name)
    assert source is not None
    with pytest.raises(ConfigurationError, match=why):
        source.verifier.check_secret(secret)
