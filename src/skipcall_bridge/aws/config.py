"""What every AWS client shares: one boto3 session per container (endpoint and service data load
once), short timeouts (a webhook's answer waits on them), standard retries, and the region from
AWS_REGION (botocore itself reads only AWS_DEFAULT_REGION, which Lambda sets but local runs
often do not)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config


@functools.cache
def boto3_session() -> boto3.session.Session:
    import boto3

    return boto3.session.Session()


def boto_config(region: str | None, read_timeout: float = 2.0) -> Config:
    from botocore.config import Config

    return Config(
        region_name=region,
        connect_timeout=1,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": 3},
    )
