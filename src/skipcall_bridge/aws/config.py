"""What every AWS client shares: one botocore session per container (endpoint and service data
load once), short timeouts (a webhook's answer waits on them), standard retries, and the region
from AWS_REGION (botocore itself reads only AWS_DEFAULT_REGION, which Lambda sets but local runs
often do not).

The clients come from botocore, not boto3: boto3's import brings s3transfer and its resource
layer, about 20 ms of a cold start that no client here uses. Powertools idempotency still
imports boto3 where deduplication is on; it is handed a client from this session. The session's
data loader lists only the services this package calls (`service_models`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.session import Session


@functools.cache
def aws_session() -> Session:
    import botocore.session

    from skipcall_bridge.aws.service_models import known_services_loader

    session = botocore.session.get_session()
    session.register_component(
        "data_loader", known_services_loader(session.get_config_variable("data_path"))
    )
    return session


def aws_client(service: str, region: str | None, read_timeout: float = 2.0) -> Any:
    """A client of the shared session (typed by the caller: botocore's clients are dynamic)."""
    return aws_session().create_client(service, config=boto_config(region, read_timeout))


def boto_config(region: str | None, read_timeout: float = 2.0) -> Config:
    from botocore.config import Config

    return Config(
        region_name=region,
        connect_timeout=1,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": 3},
    )
