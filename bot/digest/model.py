"""What a digest file holds once read: days, papers, summary points, media; and the one error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

MAX_FILE_BYTES = 5 * 1024 * 1024


MAX_ID_LENGTH = 128  # longer than any arXiv id; what the store keeps at most


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class Media:
    kind: MediaKind
    url: str


@dataclass(frozen=True)
class Bullet:
    """One summary point, with its optional bold key (``**Key**: text``)."""

    text: str
    key: str | None = None

    def as_text(self) -> str:
        return f"{self.key}: {self.text}" if self.key else self.text


@dataclass
class Paper:
    arxiv_id: str
    title: str
    url: str
    line: int
    votes: int | None = None
    authors: list[str] = field(default_factory=list)
    summary: list[Bullet] = field(default_factory=list)
    media: Media | None = None


@dataclass
class DigestDay:
    day: date
    papers: list[Paper] = field(default_factory=list)


@dataclass
class Digest:
    """What one file holds: its days in file order, and what was skipped."""

    source: str
    days: list[DigestDay]
    warnings: list[str]

    @property
    def paper_count(self) -> int:
        return sum(len(d.papers) for d in self.days)


class DigestError(ValueError):
    """A file that cannot be loaded at all, with where and why, and the warnings that
    explain it (the lines that were skipped on the way)."""

    def __init__(
        self, source: str, reason: str, line: int | None = None, warnings: Sequence[str] = ()
    ) -> None:
        self.source, self.reason, self.line = source, reason, line
        self.warnings = tuple(warnings)
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Parse workers send it back to the loading process: rebuilt from its own fields.
        return (DigestError, (self.source, self.reason, self.line, self.warnings))
