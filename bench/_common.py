"""What the benchmark scripts share: paths, a fresh database, and printing a table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "hf-daily-ko"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def fresh_database(url: str | None, folder: str, name: str) -> str:
    """A new SQLite file in ``folder``, or the given database emptied of the bot's tables."""
    if url is None:
        return f"sqlite:///{folder}/{name}.sqlite3"
    from bot.store.db import drop_schema, make_engine

    engine = make_engine(url)
    drop_schema(engine)
    engine.dispose()
    return url


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]], note: str = "") -> None:
    cells = [[str(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)) + note)
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
