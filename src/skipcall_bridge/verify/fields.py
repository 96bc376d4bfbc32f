"""Field types the sources file's schemes share."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Tolerance = Annotated[int, Field(alias="toleranceSeconds", gt=0, le=3600)]
HeaderName = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9-]+$")]
