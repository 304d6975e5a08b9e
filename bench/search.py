"""Search benchmark at archive scale: 100,000 papers synthesized from the real corpus (each
paper copied under new arXiv ids and dates), then per query the latency of `/search`'s
query function beside a plain LIKE scan that gives the same answer.

    python bench/search.py [--copies 41] [--database-url URL] [--keep PATH]

SQLite by default (a temporary file); PostgreSQL when --database-url names one.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _common import CORPUS, archive_arguments, archive_url, print_table
from sqlalchemy import func, select, text

from bot import loading
from bot.arguments import parse_top_arg
from bot.digest import Digest, DigestDay, read_digest
from bot.store import feed, queries
from bot.store.db import (
    drop_schema,
    init_schema,
    is_postgres,
    make_engine,
    session_factory,
)
from bot.store.models import Paper
from bot.store.search import scan_page, search_papers

QUERIES = [
    "확산",
    "모델",
    "확산모델",
    "확산 모델",
    "강화학습",
    "강화 학습",
    "대규모언어모델",
    "대규모 언어 모델",
    "모델을",
    "확산모델은",
    "모델에서는",
    "LoRA를",
    "언어 모델",
    "비디오 생성",
    "diffusion",
    "transformer",
    "llm",
    "video generation",
    "LLM 추론",
    "gpt-4",
    "7B",
    "zero-shot",
    "확",
    "%",
]


def synthesize(copies: int) -> list[Digest]:
    """Copies of every corpus day, ``copy`` × 400 days later, with ids ``(30+copy)MM.NNNNN``."""
    originals = [read_digest(p) for p in sorted(CORPUS.rglob("*.md"))]
    out = []
    for copy in range(copies):
        for digest in originals:
            days = []
            for day in digest.days:
                papers = [
                    dataclasses.replace(p, arxiv_id=f"{30 + copy:02d}{p.arxiv_id[2:]}")
                    for p in day.papers
                ]
                days.append(DigestDay(day.day + timedelta(days=400 * copy), papers))
            out.append(Digest(f"{digest.source}#{copy}", days, []))
    return out


def store_synthesized(Session, copies: int) -> float:  # type: ignore[no-untyped-def]
    """Load :func:`synthesize`'s copies of the corpus; seconds it took (parsing aside)."""
    digests = synthesize(copies)
    started = time.perf_counter()
    with Session() as session:
        for start in range(0, len(digests), 50):
            _report, errors = loading.store_batch(session, digests[start : start + 50])
            assert not errors, errors
            print(f"  {start + 50}/{len(digests)} files", file=sys.stderr)
    return time.perf_counter() - started


def prepared_archive(args, folder: str, name: str) -> tuple[str, float]:  # type: ignore[no-untyped-def]
    """The synthesized archive's database (see :func:`bench._common.archive_arguments`):
    built afresh, or the one ``--keep`` or ``--reuse`` names as it is; seconds the build
    took (0 for one reused)."""
    url = archive_url(args, folder, name)
    engine = make_engine(url)
    reuse = args.reuse or (bool(args.keep) and Path(args.keep).exists())
    if not reuse:
        drop_schema(engine)
    init_schema(engine)
    build = 0.0 if reuse else store_synthesized(session_factory(engine), args.copies)
    engine.dispose()
    return url, build


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(fn, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def index_size(session) -> float:  # type: ignore[no-untyped-def]
    if is_postgres(session):
        return session.scalar(text("SELECT pg_total_relation_size('paper_fts')")) / 1e6
    try:
        pages = session.scalar(text("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'paper_fts%'"))
        return (pages or 0) / 1e6
    except Exception:  # dbstat not compiled in
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    archive_arguments(parser)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url, build = prepared_archive(args, tmp.name, "search")
    engine = make_engine(url)
    Session = session_factory(engine)
    with Session() as session:
        if is_postgres(session):  # as autovacuum leaves a table after a load
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
        papers = session.scalar(select(func.count()).select_from(Paper))
        size = index_size(session)
        print(
            f"store: {engine.dialect.name} · papers: {papers:,} · build: {build:.0f} s "
            f"({papers / build if build else 0:,.0f} papers/s) · index: {size:.0f} MB"
        )
        header = ("query", "hits", "index p50", "index p99", "scan p50", "scan p99", "p50 ×")
        rows = []
        for query in QUERIES:
            page = search_papers(session, query, 0, 5)
            assert [p.arxiv_id for p in page.items] == [
                p.arxiv_id for p in scan_page(session, query, 0, 5).items
            ]
            indexed = timed(lambda q=query: search_papers(session, q, 0, 5), args.runs)
            scanned = timed(lambda q=query: scan_page(session, q, 0, 5), max(5, args.runs // 6))
            rows.append(
                (
                    query,
                    f"{page.total:,}" + ("+" if page.more else ""),
                    f"{statistics.median(indexed):.1f}",
                    f"{percentile(indexed, 99):.1f}",
                    f"{statistics.median(scanned):.0f}",
                    f"{percentile(scanned, 99):.0f}",
                    f"{statistics.median(scanned) / statistics.median(indexed):.0f}",
                )
            )
        feed_rows = []
        newest = queries.latest_day(session)
        assert newest is not None
        for arg in ("week", "month"):
            window = parse_top_arg(arg, newest)
            top = timed(
                lambda w=window: feed.top_in_window(session, w.first, w.last, 0, 10), args.runs
            )
            hits = feed.top_in_window(session, window.first, window.last, 0, 10).total
            feed_rows.append(
                (
                    f"/top {arg}",
                    f"{hits:,}",
                    f"{statistics.median(top):.1f}",
                    f"{percentile(top, 99):.1f}",
                )
            )
    engine.dispose()
    print_table(header, rows, "   (ms)")
    print()
    print_table(("window", "papers", "p50", "p99"), feed_rows, "   (ms)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
