"""Ingest benchmark: the whole corpus into a fresh database through `load`, several times.

    python bench/ingest.py [--runs 5] [--database-url URL]

Prints, per run, the seconds and papers per second, then the best and the median, the peak
memory of this process and of a parse worker, and the database size. A shared machine's
speed drifts from minute to minute, so each run is preceded by a fixed pure-Python loop:
its time says how fast the machine was just then.
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import tempfile
import time
from pathlib import Path

from _common import CORPUS, fresh_database, print_table

from bot import cli
from bot.config import Settings
from bot.store import queries
from bot.store.db import open_store


def reference_loop() -> float:
    """Milliseconds for ten million additions in pure Python: this machine's pace now."""
    started = time.perf_counter()
    total = 0
    for number in range(10_000_000):
        total += number
    return (time.perf_counter() - started) * 1000


def one_run(url_arg: str | None) -> tuple[int, int, float, float]:
    """(exit code, day entries, seconds, database MB) of loading the corpus once."""
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(url_arg, tmp, "bench")
        settings = Settings(database_url=url)
        started = time.perf_counter()
        code = cli.load(settings, [str(CORPUS)], io.StringIO(), progress=False)
        elapsed = time.perf_counter() - started
        with open_store(url) as Session, Session() as session:
            entries = queries.stats(session).entries
        size = sum(f.stat().st_size for f in Path(tmp).glob("bench.sqlite3*")) / 1e6
    return code, entries, elapsed, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows, rates = [], []
    for run in range(1, args.runs + 1):
        pace = reference_loop()
        code, entries, elapsed, size = one_run(args.database_url)
        rates.append(entries / elapsed)
        rows.append(
            (run, code, entries, f"{elapsed:.2f}", f"{entries / elapsed:,.0f}", f"{pace:.0f}")
        )
    store = (args.database_url or "sqlite").split("://")[0]
    print_table(("run", "exit", "day entries", "seconds", "papers/s", "reference loop ms"), rows)
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print()
    print_table(
        ("measure", "value"),
        [
            ("store", store),
            ("papers/s, best", f"{max(rates):,.0f}"),
            ("papers/s, median", f"{statistics.median(rates):,.0f}"),
            ("peak RSS, main (MB)", f"{peak_self:.0f}"),
            ("peak RSS, a parse worker (MB)", f"{peak_children:.0f}"),
            ("database size (MB)", f"{size:.1f}" if size else "-"),
        ],
    )


if __name__ == "__main__":
    main()
