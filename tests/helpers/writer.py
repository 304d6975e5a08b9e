"""The writer's outside services as stand-ins on 127.0.0.1, filled from real digest days."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from bot.config import Settings
from bot.digest import DigestDay, read_digest
from bot.emulator.papers import DailyPapersApi, ModelApi

POINTS = ("What's New", "Technical Details", "Performance Highlights")


def days_of(*paths: Path) -> list[DigestDay]:
    return [day for path in paths for day in read_digest(path).days]


def known_points(days: Sequence[DigestDay]) -> dict[str, tuple[str, str, str]]:
    """The archive's own three Korean points per paper, where it has all three."""
    known = {}
    for day in days:
        for paper in day.papers:
            by_key = {b.key: b.text for b in paper.summary}
            if all(by_key.get(k) for k in POINTS):
                known[paper.arxiv_id] = tuple(by_key[k] for k in POINTS)
    return known  # type: ignore[return-value]


@dataclasses.dataclass
class StandIns:
    papers: DailyPapersApi
    model: ModelApi

    def settings(self, settings: Settings, write_dir: Path, model: bool = True) -> Settings:
        return dataclasses.replace(
            settings,
            hf_api_url=self.papers.url,
            llm_base_url=f"{self.model.url}/v1",
            llm_model=self.model.model if model else None,
            llm_api_key=self.model.api_key,
            write_dir=str(write_dir),
        )


@asynccontextmanager
async def stand_ins(
    days: Sequence[DigestDay], known: dict[str, tuple[str, str, str]] | None = None
) -> AsyncIterator[StandIns]:
    papers, model = DailyPapersApi(), ModelApi(known=dict(known or {}))
    for day in days:
        papers.add_day(day)
    await papers.start()
    await model.start()
    try:
        yield StandIns(papers, model)
    finally:
        await papers.stop()
        await model.stop()
