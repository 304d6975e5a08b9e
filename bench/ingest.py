"""Ingest benchmark: the whole corpus into a fresh database through `load`, several times.

    python bench/ingest.py [--runs 5] [--database-url URL]

Each run is a new process, as `python -m bot load` is, timed from the call to `load` to
its return. Prints, per run, the seconds and papers per second, then the best and the
median, peak memory and the database size. A shared machine's speed drifts from minute to
minute, so each run is preceded by a fixed pure-Python loop: its time says how fast the
machine was just then.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
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


def one_run(url_arg: str | None) -> dict[str, float]:
    """Load the corpus once, in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(url_arg, tmp, "bench")
        settings = Settings(database_url=url)
        started = time.perf_counter()
        code = cli.load(settings, [str(CORPUS)], io.StringIO(), progress=False)
        elapsed = time.perf_counter() - started
        with open_store(url) as Session, Session() as session:
            entries = queries.stats(session).entries
        size = sum(f.stat().st_size for f in Path(tmp).glob("bench.sqlite3*")) / 1e6
    return {
        "code": code,
        "entries": entries,
        "seconds": elapsed,
        "mb": size,
        "rss_main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--one", action="store_true", help="one run here, as JSON (internal)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.database_url)))
        return
    command = [sys.executable, __file__, "--one"]
    if args.database_url:
        command += ["--database-url", args.database_url]
    rows, results = [], []
    for run in range(1, args.runs + 1):
        pace = reference_loop()
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(output.splitlines()[-1])
        results.append(result)
        rate = result["entries"] / result["seconds"]
        rows.append(
            (
                run,
                result["code"],
                result["entries"],
                f"{result['seconds']:.2f}",
                f"{rate:,.0f}",
                f"{pace:.0f}",
            )
        )
    print_table(("run", "exit", "day entries", "seconds", "papers/s", "reference loop ms"), rows)
    rates = [r["entries"] / r["seconds"] for r in results]
    size = results[-1]["mb"]
    print()
    print_table(
        ("measure", "value"),
        [
            ("store", (args.database_url or "sqlite").split("://")[0]),
            ("papers/s, best", f"{max(rates):,.0f}"),
            ("papers/s, median", f"{statistics.median(rates):,.0f}"),
            ("peak RSS, main (MB)", f"{max(r['rss_main'] for r in results):.0f}"),
            ("peak RSS, a parse worker (MB)", f"{max(r['rss_worker'] for r in results):.0f}"),
            ("database size (MB)", f"{size:.1f}" if size else "-"),
        ],
    )


if __name__ == "__main__":
    main()
