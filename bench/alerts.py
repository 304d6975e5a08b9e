"""Alert benchmark: a day of 60 new papers loads while 10,000 chats follow 5 authors and
watch 5 searches each; how long the load and the matching take, how many alerts and
messages that makes, and the messages sent through the real bot to the emulator.

    python bench/alerts.py [--chats 10000] [--rate 2000] [--database-url URL]

The archive is the corpus but its last days; those days' papers, 60 or a few more, become
one new day. Follows are author names of the archive, watches one or two words of
its titles and summaries (the most common words left out: nobody watches "모델" alone).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import random
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from _common import CORPUS, fresh_database, print_table
from sqlalchemy import func, select

from bot import cli
from bot.app import running
from bot.config import Settings
from bot.emulator import BotApiEmulator
from bot.store import alerts, rules
from bot.store.db import open_store
from bot.store.models import Alert, Delivery, DeliveryKind, Paper, PaperAuthor, Rule, RuleKind


def new_day(files: list[Path], folder: str, day: date) -> Path:
    """The papers of ``files`` as one digest of ``day``."""
    papers = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        papers += re.split(r"(?m)^(?=### )", text.split("\n", 1)[1])[1:]
    out = Path(folder) / f"{day.isoformat()}.md"
    out.write_text(f"## Daily Papers ({day.isoformat()})\n\n" + "".join(papers), encoding="utf-8")
    return out


def make_rules(url: str, chats: int, seed: int = 7) -> int:
    """5 follows and 5 watches per chat, drawn from the archive."""
    rng = random.Random(seed)
    with open_store(url) as Session, Session() as session:
        names = sorted(set(session.scalars(select(PaperAuthor.name))))
        words = Counter(
            w
            for text in session.scalars(select(Paper.search_text))
            for w in re.findall(r"[^\W\d_]{2,}", text)
        )
    common = [w for w, _n in words.most_common(3000)][60:]
    now = datetime.now(UTC)
    rows = []
    for chat_id in range(1, chats + 1):
        for name in rng.sample(names, 5):
            rows.append((chat_id, RuleKind.FOLLOW, name))
        for _ in range(5):
            rows.append((chat_id, RuleKind.WATCH, " ".join(rng.sample(common, rng.choice((1, 2))))))
    values = [
        {
            "chat_id": c,
            "kind": k,
            "text": t,
            "folded": rules.rule_key(k, t),
            "created_at": now,
        }
        for c, k, t in rows
    ]
    unique = {(v["chat_id"], v["kind"], v["folded"]): v for v in values}
    with open_store(url) as Session, Session.begin() as session:
        for start in range(0, len(unique), 5000):
            session.execute(Rule.__table__.insert(), list(unique.values())[start : start + 5000])
    return len(unique)


async def send(settings: Settings, rate: float, chats: int) -> tuple[int, float, int]:
    emulator = BotApiEmulator(messages_per_second=rate, keep_messages=False)
    url = await emulator.start()
    for chat_id in range(1, chats + 1):
        emulator.private_chat(chat_id)
    settings = dataclasses.replace(
        settings, bot_token="0:bench", telegram_api_url=url, messages_per_second=rate
    )
    async with running(settings, poll_timeout=1) as application:
        for job in application.job_queue.get_jobs_by_name("alerts"):  # this pass alone
            job.schedule_removal()
        started = time.perf_counter()
        report = await application.services.deliverer.run_alert_pass()
        elapsed = time.perf_counter() - started
    await emulator.stop()
    most = max(emulator.sent_count.values(), default=0)
    return report.messages, elapsed, most


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=2000.0, help="emulator messages/s")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    files = sorted(CORPUS.rglob("*.md"), key=lambda p: p.name)
    with tempfile.TemporaryDirectory() as folder:
        url = fresh_database(args.database_url, folder, "alerts")
        settings = Settings(database_url=url)
        take = 1  # the last days, as many as make 60 papers or more
        while sum(p.read_text().count("\n### ") for p in files[-take:]) < 60:
            take += 1
        if cli.load(settings, [str(p) for p in files[:-take]], io.StringIO(), progress=False):
            print("the corpus could not be loaded", file=sys.stderr)
            return 1
        started = time.perf_counter()
        made_rules = make_rules(url, args.chats)
        made = time.perf_counter() - started
        day = new_day(files[-take:], folder, date(2030, 1, 1))
        started = time.perf_counter()
        cli.load(settings, [str(day)], io.StringIO(), progress=False)
        loaded = time.perf_counter() - started
        with open_store(url) as Session, Session() as session:
            papers = alerts.queued_count(session)
            started = time.perf_counter()
            report = alerts.plan_alerts(session)
            planned = time.perf_counter() - started
            again = alerts.plan_alerts(session)  # nothing queued any more
        sent, sending, most = asyncio.run(send(settings, args.rate, args.chats))
        with open_store(url) as Session, Session() as session:
            alert_rows = session.scalar(select(func.count()).select_from(Alert))
            open_rows = session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.kind == DeliveryKind.ALERT)
            )
    store = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"{store}: {args.chats:,} chats, {made_rules:,} rules; rules written in {made:.1f} s\n")
    print_table(
        [
            "new papers",
            "load s",
            "match s",
            "alerts",
            "messages",
            "chats w/o",
            "sent",
            "send s",
            "msg/s",
            "most/chat",
        ],
        [
            [
                papers,
                f"{loaded:.2f}",
                f"{planned:.2f}",
                f"{report.alerts:,}",
                f"{report.messages:,}",
                f"{args.chats - report.messages:,}",
                f"{sent:,}",
                f"{sending:.1f}",
                f"{sent / sending:.0f}" if sending else "-",
                most,
            ]
        ],
    )
    assert again.alerts == 0 and alert_rows == report.alerts and open_rows == report.messages
    assert sent == report.messages and most <= 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
