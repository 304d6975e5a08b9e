"""The writer against the stand-ins with a model that takes seconds to answer.

    python bench/writer.py [--papers 60] [--latency 5] [--spread 3] [--database-url URL]

A day of ``--papers`` papers (real titles and authors from the shipped slice and the seeds,
repeated as needed) listed by the daily-papers stand-in; the model stand-in answers each
call in ``latency ± spread`` seconds (evenly drawn), with the archive's Korean points where
it knows them. Rows: the first write of the day (every paper asked), and a rewrite (nothing
new: nothing asked). Columns: wall time, calls, the most calls in flight, tokens, papers
in Korean. The target: a day written in under two minutes with the model at 5 s a call.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
from datetime import date
from pathlib import Path

from _common import ROOT, fresh_database, print_table

from bot.config import Settings
from bot.digest import DigestDay, read_digest
from bot.services import Services
from bot.store.db import init_schema, make_engine, session_factory
from bot.writer import write_day

POINTS = ("What's New", "Technical Details", "Performance Highlights")
DAY = date(2026, 12, 4)


def a_day(papers: int) -> tuple[DigestDay, dict[str, tuple[str, str, str]]]:
    files = sorted((ROOT / "tests" / "corpus" / "days").rglob("*.md"))
    real = [p for f in files for d in read_digest(f).days for p in d.papers]
    known = {}
    for paper in real:
        by_key = {b.key: b.text for b in paper.summary}
        if all(by_key.get(k) for k in POINTS):
            known[paper.arxiv_id] = tuple(by_key[k] for k in POINTS)
    chosen = []
    for n in range(papers):
        paper = real[n % len(real)]
        if n >= len(real):  # a paper again: a new id, so that it is a paper of its own
            paper = dataclasses.replace(paper, arxiv_id=f"2612.{n:05d}")
        chosen.append(paper)
    return DigestDay(DAY, chosen), known  # type: ignore[return-value]


async def measure(url: str, folder: str, args: argparse.Namespace) -> list[tuple[object, ...]]:
    from bot.emulator.papers import DailyPapersApi, ModelApi

    day, known = a_day(args.papers)
    papers, model = DailyPapersApi(), ModelApi(known=known)
    papers.add_day(day)
    model.latency = (max(0.0, args.latency - args.spread), args.latency + args.spread)
    await papers.start()
    await model.start()
    engine = make_engine(url)
    init_schema(engine)
    settings = Settings(
        database_url=url,
        hf_api_url=papers.url,
        llm_base_url=f"{model.url}/v1",
        llm_model=model.model,
        llm_api_key=model.api_key,
        write_dir=str(Path(folder) / "paper_logs"),
    )
    services = Services(settings=settings, Session=session_factory(engine))
    rows = []
    try:
        for name in ("first write", "rewrite (nothing new)"):
            calls = len(model.requests)
            model.most_in_flight = 0
            started = time.perf_counter()
            report = await write_day(services, DAY)
            took = time.perf_counter() - started
            rows.append(
                (
                    name,
                    f"{took:.1f}",
                    len(model.requests) - calls,
                    model.most_in_flight,
                    report.tokens,
                    f"{report.korean}/{report.papers}",
                )
            )
    finally:
        services.close()
        engine.dispose()
        await papers.stop()
        await model.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--papers", type=int, default=60)
    parser.add_argument("--latency", type=float, default=5.0)
    parser.add_argument("--spread", type=float, default=3.0)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = fresh_database(args.database_url, folder, "writer")
        rows = asyncio.run(measure(url, folder, args))
    print(
        f"a day of {args.papers} papers; the model answers in "
        f"{args.latency:g} ± {args.spread:g} s a call"
    )
    print_table(("write", "wall s", "model calls", "most at once", "tokens", "in Korean"), rows)


if __name__ == "__main__":
    main()
