"""What the benchmark scripts share: paths, a fresh database, and printing a table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "hf-daily-ko"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bot_env(url: str, api: str, rate: float, paid: bool, **more: str) -> dict[str, str]:
    """The environment of a bot process the benchmark starts (see
    :func:`tests.helpers.processes.child_env`)."""
    from tests.helpers.processes import child_env

    return child_env(
        BOT_TOKEN="1:bench-token-for-the-emulator-0123456789",
        TELEGRAM_API_URL=api,
        DATABASE_URL=url,
        BOT_MESSAGES_PER_SECOND=str(rate),
        BOT_PAID_BROADCAST="1" if paid else "0",
        **more,
    )


def fresh_database(url: str | None, folder: str, name: str) -> str:
    """A new SQLite file in ``folder``, or the given database emptied of the bot's tables."""
    if url is None:
        return f"sqlite:///{folder}/{name}.sqlite3"
    from bot.store.db import drop_schema, make_engine

    engine = make_engine(url)
    drop_schema(engine)
    engine.dispose()
    return url


def subscribe_many(url: str, chats: range, due: bool = False) -> None:
    """Private chats subscribed at 09:00 Seoul (``due``: their slot passed while down)."""
    from datetime import timedelta

    from sqlalchemy import insert

    from bot.store.db import now_utc, open_store
    from bot.store.models import Subscription

    now = now_utc()
    last = now - timedelta(days=2) if due else now
    rows = [
        {
            "chat_id": c,
            "chat_type": "private",
            "title": None,
            "active": True,
            "send_time": "09:00",
            "timezone": "Asia/Seoul",
            "top_n": 10,
            "min_votes": 0,
            "keywords": [],
            "created_at": now,
            "last_slot_at": last,
        }
        for c in chats
    ]
    with open_store(url) as Session, Session.begin() as session:
        session.execute(insert(Subscription), rows)


def archive_arguments(parser: Any) -> None:
    """The options of the benchmarks that run on the synthesized 100,000-paper archive."""
    parser.add_argument("--copies", type=int, default=41)
    parser.add_argument("--database-url")
    parser.add_argument("--keep", help="reuse (or leave) the SQLite database at this path")
    parser.add_argument(
        "--reuse", action="store_true", help="use the papers already in the database"
    )


def archive_url(args: Any, folder: str, name: str) -> str:
    return args.database_url or f"sqlite:///{args.keep or f'{folder}/{name}.sqlite3'}"


async def unthrottled_emulator(settings: Any, **options: Any) -> tuple[Any, Any]:
    """The emulator started with limits far above Telegram's (to measure the bot itself),
    and ``settings`` pointing the bot at it with the same limits."""
    import dataclasses

    from bot.emulator import BotApiEmulator

    emulator = BotApiEmulator(messages_per_second=5000, group_messages_per_minute=100000, **options)
    url = await emulator.start()
    settings = dataclasses.replace(
        settings,
        bot_token="0:bench",
        telegram_api_url=url,
        messages_per_second=5000,
        group_messages_per_minute=100000,
    )
    return emulator, settings


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]], note: str = "") -> None:
    cells = [[str(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)) + note)
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
