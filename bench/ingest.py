"""Ingest benchmark: the whole corpus into a fresh SQLite database through `load`.

    python bench/ingest.py [--database-url URL]

Prints papers per second and the peak memory of this process and its parse workers.
"""

from __future__ import annotations

import argparse
import io
import resource
import tempfile
import time
from pathlib import Path

from _common import CORPUS, fresh_database, print_table

from bot import cli
from bot.config import Settings
from bot.store import queries
from bot.store.db import open_store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.database_url, tmp, "bench")
        settings = Settings(database_url=url)
        start = time.perf_counter()
        code = cli.load(settings, [str(CORPUS)], io.StringIO())
        elapsed = time.perf_counter() - start
        with open_store(url) as Session, Session() as session:
            stats = queries.stats(session)
        db_size = sum(f.stat().st_size for f in Path(tmp).glob("bench.sqlite3*"))
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows = [
        ("store", url.split("://")[0]),
        ("exit code", code),
        ("files", 201),
        ("day entries", stats.entries),
        ("seconds", f"{elapsed:.2f}"),
        ("papers/s", f"{stats.entries / elapsed:,.0f}"),
        ("peak RSS, main (MB)", f"{peak_self:.0f}"),
        ("peak RSS, a parse worker (MB)", f"{peak_children:.0f}"),
        ("database size (MB)", f"{db_size / 1e6:.1f}" if db_size else "-"),
    ]
    print_table(("measure", "value"), rows)


if __name__ == "__main__":
    main()
