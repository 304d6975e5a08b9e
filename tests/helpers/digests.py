"""Digest files for the tests: the seeds, the real slice shipped in ``tests/corpus``, the
whole real archive where it exists, and synthesized days."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.digest import read_digest
from bot.store import queries
from bot.store.ingest import store_digest

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
# Ten real day files, one per notation the parser must survive (see tests/corpus/README.md).
SLICE = ROOT / "tests" / "corpus" / "days"
CORPUS_VARIABLE = "DAILY_PAPERS_CORPUS"


def corpus_dir() -> Path:
    """Where the whole real archive is: ``DAILY_PAPERS_CORPUS``, else ``../shared`` beside
    the project (this team's machines and CI)."""
    named = os.environ.get(CORPUS_VARIABLE)
    return Path(named) if named else ROOT.parent / "shared" / "corpus" / "hf-daily-ko"


def corpus_files() -> list[Path]:
    """Every day file of the whole archive; the test is skipped where it is not there."""
    files = sorted(corpus_dir().rglob("*.md"))
    if not files:
        pytest.skip(
            f"the whole archive is not at {corpus_dir()} (set {CORPUS_VARIABLE} to run this)"
        )
    return files


def slice_files() -> list[Path]:
    return sorted(SLICE.rglob("*.md"))


def seed_files() -> list[Path]:
    return sorted(SEEDS.glob("*.md"))


def archive_files() -> list[Path]:
    """The most real text there is here: the whole archive, else the slice and the seeds."""
    files = sorted(corpus_dir().rglob("*.md"))
    return files or [*slice_files(), *seed_files()]


def load_paths(Store: sessionmaker[Session], *paths: Path) -> None:
    """Store digest files one by one, as a load of each would."""
    for path in paths:
        with Store.begin() as session:
            store_digest(session, read_digest(path))


DAY = date(2024, 5, 2)


def day_file(tmp_path: Path, day: date = DAY, papers: int = 3, name: str = "") -> Path:
    """A digest of ``papers`` papers; the first by Rémi Munos, the second on 확산 모델."""
    lines = [f"## Daily Papers ({day.isoformat()})", ""]
    for number in range(papers):
        author = "Rémi Munos, Jane Doe" if number == 0 else f"Author {number}, Someone Else"
        topic = "확산모델은 이미지를 만듭니다." if number == 1 else "언어 모델을 평가합니다."
        lines += [
            f"### [Paper {number} of {day}](https://arxiv.org/abs/2405.{day.day:02d}{number:03d})",
            f"Vote: {50 - number}",
            f"Authors: {author}",
            f"- {topic}",
            "",
        ]
    path = tmp_path / f"{name or day.isoformat()}.md"
    path.write_text("\n".join(lines))
    return path


_TOPICS = ("확산 모델", "언어 모델", "강화학습", "비디오 생성", "3D 재구성", "음성 합성")


def synthetic_days(
    folder: Path, count: int, first: date = date(2022, 1, 1), variant: int = 0
) -> list[Path]:
    """``count`` day files under ``folder`` (``YYYY/MM/DD.md``), one day apart, each with a
    few papers of its own: a stand-in for many real days where only their number matters.
    Another ``variant`` of the same days has the same papers with other summaries."""
    paths = []
    for number in range(count):
        day = first + timedelta(days=number)
        lines = [f"## Daily Papers ({day.isoformat()})", ""]
        for rank in range(4):
            topic = _TOPICS[(number + rank) % len(_TOPICS)]
            lines += [
                f"### [{topic} paper {rank} of {day}](https://arxiv.org/abs/"
                f"{day:%y%m}.{day.day:02d}{rank:03d})",
                "",
                f"Vote: {40 - rank * 7}",
                "",
                f"Authors: Author {number}-{rank}, Jane Doe, Kim Minsu",
                "",
                f"- **What's New**: {topic}에 관한 새로운 방법을 제안합니다.",
                f"- **Performance Highlights**: 기존 방법보다 {rank + 2 + variant}% 높은 성능을 보였습니다.",
                "",
            ]
        path = folder / f"{day:%Y/%m/%d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")
        paths.append(path)
    return paths


def latest(session: Session) -> date:
    """The newest day loaded (the tests that ask have loaded one)."""
    day = queries.latest_day(session)
    assert day is not None
    return day
