"""``python -m bot deliver`` with the database statements it runs counted: what
bench/throughput.py starts as the bot, to report statements per message beside its time.
Prints ``statements N`` and ``peak_rss_mb M`` last on stderr."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bot.__main__ import main  # noqa: E402

statements = 0


@event.listens_for(Engine, "before_cursor_execute")
def _count(*_args: object) -> None:
    global statements
    statements += 1


if __name__ == "__main__":
    code = main(["deliver", *sys.argv[1:]])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"statements {statements}\npeak_rss_mb {peak:.0f}", file=sys.stderr)
    raise SystemExit(code)
