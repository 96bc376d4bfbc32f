"""Configuration and templates are read and compiled once per container, never per delivery."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest

from skipcall_bridge import settings as settings_module
from skipcall_bridge.sources import catalog as sources_module

from .conftest import EVENT, Receiver


def test_config_and_templates_are_compiled_once(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, int] = {"settings": 0, "sources": 0, "jmespath": 0}

    def counting(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        settings_module.Settings, "from_environ",
        classmethod(counting("settings", settings_module.Settings.from_environ.__func__)),
    )  # fmt: skip
    monkeypatch.setattr(
        sources_module, "load_sources", counting("sources", sources_module.load_sources)
    )
    monkeypatch.setattr(jmespath, "compile", counting("jmespath", jmespath.compile))

    assert receiver.bearer(EVENT).status == 201
    after_first = dict(calls)
    assert after_first["settings"] == after_first["sources"] == 1
    assert after_first["jmespath"] > 0  # the templates compiled while loading
    for index in range(20):
        assert receiver.bearer({**EVENT, "name": f"n{index}"}).status == 201
    assert calls == after_first  # nothing read or compiled again
