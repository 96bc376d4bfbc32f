"""The sources file: pydantic models, loading, validation and compilation (once, at load)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from skipcall_bridge.errors import ConfigurationError
from skipcall_bridge.mapping import (
    EventSelector,
    SequenceMapper,
    TemplateSyntaxError,
    compile_expression,
    compile_template,
)
from skipcall_bridge.verify import AuthConfig, Verifier, build_verifier
from skipcall_bridge.verify.schemes import SCHEME_NAMES

T = TypeVar("T")
SOURCE_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
DEFAULT_BUDGET_SECONDS = 4.0


def _check_compiles(compile_: Callable[[T], object], value: T) -> T:
    """Compile once to report syntax errors at load, as pydantic errors on the field."""
    try:
        compile_(value)
    except TemplateSyntaxError as exc:
        raise ValueError(str(exc)) from None
    return value


class SequenceTemplates(BaseModel):
    """One template per CreateSequenceDto field; unknown fields are refused at load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: JsonValue
    creatorId: JsonValue
    assignedToIds: JsonValue
    contactIds: JsonValue = None

    @field_validator("*")
    @classmethod
    def _compiles(cls, value: JsonValue) -> JsonValue:
        return _check_compiles(compile_template, value)


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    auth: AuthConfig
    events: str | None = None
    sequence: SequenceTemplates
    budget_seconds: float = Field(
        default=DEFAULT_BUDGET_SECONDS, alias="budgetSeconds", gt=0, le=25
    )

    @field_validator("events")
    @classmethod
    def _events_compiles(cls, value: str | None) -> str | None:
        return value if value is None else _check_compiles(compile_expression, value)


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: dict[Annotated[str, Field(pattern=SOURCE_NAME)], SourceConfig]


@dataclass(frozen=True)
class Source:
    """A source ready to serve: verifier, event selector and mapper compiled once."""

    name: str
    config: SourceConfig
    verifier: Verifier
    events: EventSelector
    mapper: SequenceMapper

    @property
    def secret_id(self) -> str:
        return self.config.auth.secret_id

    @property
    def budget_seconds(self) -> float:
        return self.config.budget_seconds


class SourceCatalog:
    def __init__(self, sources: dict[str, Source]) -> None:
        self._sources = sources

    def get(self, name: str) -> Source | None:
        return self._sources.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._sources)

    def secret_ids(self) -> list[str]:
        return sorted({source.secret_id for source in self._sources.values()})

    @classmethod
    def from_config(cls, config: SourcesFile) -> SourceCatalog:
        return cls(
            {
                name: Source(
                    name=name,
                    config=source,
                    verifier=build_verifier(source.auth),
                    events=EventSelector(source.events),
                    mapper=SequenceMapper(source.sequence.model_dump(exclude_unset=True)),
                )
                for name, source in config.sources.items()
            }
        )


def parse_sources(text: str | bytes, origin: str = "sources file") -> SourcesFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{origin}: not valid JSON: {exc}") from None
    try:
        return SourcesFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"  - {_location(error['loc'])}: {error['msg']}" for error in exc.errors()]
        raise ConfigurationError(f"{origin} is invalid:\n" + "\n".join(lines)) from None


def load_sources(path: Path) -> SourceCatalog:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read sources file {path}: {exc.strerror}") from None
    return SourceCatalog.from_config(parse_sources(text, origin=str(path)))


def _location(loc: tuple[int | str, ...]) -> str:
    # ('sources', 'zapier', 'auth', 'bearer', 'secretId') -> sources.zapier.auth.secretId;
    # pydantic puts the matched union tag in the path, which users never wrote.
    parts = [str(part) for part in loc]
    if len(parts) > 3 and parts[2] == "auth" and parts[3] in SCHEME_NAMES:
        del parts[3]
    return ".".join(parts)
