"""``python -m bot deliver`` with the database statements it runs counted: what
bench/throughput.py starts as the bot, to report statements per message beside its time.
Prints ``statements N`` and ``peak_rss_mb M`` last on stderr."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bot.__main__ import main

statements = 0


@event.listens_for(Engine, "before_cursor_execute")
def _count(*_args: object) -> None:
    global statements
    statements += 1


if __name__ == "__main__":
    code = main(["deliver", *sys.argv[1:]])
    # This process's own peak (getrusage's would carry the parent's over the fork).
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    print(f"statements {statements}\npeak_rss_mb {peak:.0f}", file=sys.stderr)
    raise SystemExit(code)
