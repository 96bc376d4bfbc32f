"""Builds the pipeline and its adapters once per container, from the settings."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from skipcall_bridge.aws.dead_letter import SqsDeadLetterQueue
from skipcall_bridge.aws.secrets import SecretsManagerStore
from skipcall_bridge.pipeline import Pipeline
from skipcall_bridge.settings import Settings
from skipcall_bridge.skipcall.client import SkipcallClient
from skipcall_bridge.sources import SourceCatalog, load_sources


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    catalog: SourceCatalog
    pipeline: Pipeline


def build_runtime(settings: Settings) -> Runtime:
    catalog = load_sources(settings.sources_config)
    secrets = SecretsManagerStore(settings.api_key_secret_id, settings.secrets_max_age_seconds)
    pipeline = Pipeline(
        catalog,
        secrets,
        SkipcallClient(settings.skipcall_api_url, secrets),
        SqsDeadLetterQueue(settings.dead_letter_queue_url),
        max_body_bytes=settings.max_body_bytes,
    )
    return Runtime(settings=settings, catalog=catalog, pipeline=pipeline)


@functools.cache
def current_runtime() -> Runtime:
    """The container's runtime. A ConfigurationError is not cached: a later request retries."""
    return build_runtime(Settings.from_environ())
