"""Operator commands behind ``python -m bot``: load, sync, export, stats, deliver, run.

Each returns a process exit code. Loading itself is :mod:`bot.loading`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from bot.config import Settings
from bot.digest import DigestError
from bot.i18n import speaking
from bot.leader import InstanceLocked, lock_sqlite
from bot.loading import digest_files, load_files
from bot.render import stats_lines
from bot.store import queries
from bot.store.db import describe_database, open_store
from bot.store.ingest import LoadReport
from bot.sync import SyncError, sync_once

log = logging.getLogger(__name__)
REFUSED_TOKEN = (
    "Telegram refused BOT_TOKEN (401 Unauthorized): check the token @BotFather gave you, "
    "then start again."
)


def load(
    settings: Settings, paths: Sequence[str], out: TextIO = sys.stdout, progress: bool = True
) -> int:
    given = digest_files(paths)
    report, refused, stored = load_files(settings, given.files, progress)
    rejected = given.missing + refused
    print_load(report, rejected, stored, out)
    if given.skipped:
        names = ", ".join(p.name for p in given.skipped[:5])
        more = ", …" if len(given.skipped) > 5 else ""
        print(f"skipped {len(given.skipped)} file(s) that are not digests: {names}{more}", file=out)
    return 1 if rejected else 0


def print_load(
    report: LoadReport, rejected: Sequence[DigestError], stored: int, out: TextIO
) -> None:
    days = len(set(report.days))
    print(
        f"loaded {stored} file(s), "
        f"{days} day(s): {report.added} paper(s) added, {report.replaced} replaced, "
        f"{report.unchanged} unchanged, {report.removed} removed, "
        f"{len(report.warnings)} warning(s)",
        file=out,
    )
    for warning in report.warnings[:50]:
        print(f"warning: {warning}", file=out)
    if len(report.warnings) > 50:
        print(f"warning: … and {len(report.warnings) - 50} more", file=out)
    for error in rejected:
        print(f"rejected: {error}", file=out)
        for warning in error.warnings[:5]:
            print(f"  because: {warning}", file=out)


def sync(settings: Settings, source: str | None, out: TextIO = sys.stdout) -> int:
    """One check of the digest source (``DIGEST_SOURCE``, or ``source``)."""
    try:
        report = sync_once(settings, source)
    except SyncError as exc:
        print(f"sync: {exc}", file=sys.stderr)
        return 1
    print(f"synced {report.summary()}", file=out)
    for error in report.rejected:
        print(f"rejected: {error}", file=out)
    for name in report.links:
        print(f"skipped (a link): {name}", file=out)
    for name, why in report.still_rejected:
        print(f"still rejected: {name}: {why} (it loads once it changes)", file=out)
    return 1 if report.failed else 0


def export(settings: Settings, out: TextIO = sys.stdout) -> int:
    try:
        with open_store(settings.database_url) as Session, Session() as session:
            for row in queries.export_rows(session):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
    except BrokenPipeError:  # ``export | head``: the reader has all it wanted
        if out is sys.stdout:  # and Python's own flush at exit must not complain
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def stats(settings: Settings, out: TextIO = sys.stdout) -> int:
    print(f"database: {describe_database(settings.database_url)}", file=out)
    with open_store(settings.database_url) as Session, Session() as session:
        for line in stats_lines(queries.stats(session)):
            print(line, file=out)
    return 0


def run(settings: Settings) -> int:
    if not settings.bot_token:
        print("BOT_TOKEN is not set: export the bot token from @BotFather first.", file=sys.stderr)
        return 2
    from telegram.error import InvalidToken

    from bot.app import protect_logs, serve
    from bot.webhook import ListenError

    protect_logs(settings.bot_token)
    try:
        instance = lock_sqlite(settings.database_url)
    except InstanceLocked as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(settings))
    except InvalidToken:
        print(REFUSED_TOKEN, file=sys.stderr)
        return 2
    except ListenError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        if instance is not None:
            instance.close()
    return 0


def write(settings: Settings, date_arg: str | None, out: TextIO = sys.stdout) -> int:
    """Write one day's digest now (default: the newest day whose list has closed)."""
    from datetime import UTC, datetime

    from bot.app import protect_logs, write_once
    from bot.arguments import UsageError, parse_day_arg
    from bot.writer import SourceError, closed_day

    now = datetime.now(UTC)
    try:  # today and yesterday as UTC has them (Hugging Face's days are UTC days)
        day = parse_day_arg(date_arg or "", now.date()) or closed_day(now)
    except UsageError:
        print(f"not a date: {date_arg!r} (YYYY-MM-DD, today or yesterday)", file=sys.stderr)
        return 2
    protect_logs(settings.bot_token, settings.llm_api_key, settings.hf_token)
    try:
        report = asyncio.run(write_once(settings, day))
    except SourceError as exc:
        print(f"write: {exc}; nothing was written", file=sys.stderr)
        return 1
    print(f"write {report.summary()}", file=out)
    for warning in report.warnings[:20]:
        print(f"warning: {warning}", file=out)
    return 0


LOCAL_WEB = ("127.0.0.1", 8080)  # where ``web`` serves when nothing says otherwise


def web(settings: Settings, out: TextIO = sys.stdout) -> int:
    """The web archive alone, no Telegram: ``http://127.0.0.1:8080/app/`` unless
    ``WEBAPP_URL``, ``WEBHOOK_LISTEN`` or ``WEBHOOK_PORT`` say otherwise."""
    from bot.app import protect_logs, serve_web
    from bot.webhook import ListenError

    listen, port = settings.webhook_listen, settings.webhook_port
    if (listen, port) == (Settings.webhook_listen, Settings.webhook_port):  # the bot's own
        listen, port = LOCAL_WEB
    host = "127.0.0.1" if listen in ("0.0.0.0", "::", "") else listen
    url = settings.webapp_url or f"http://{host}:{port}/app"
    settings = dataclasses.replace(
        settings, webapp_url=url, webhook_listen=listen, webhook_port=port
    )
    protect_logs(settings.bot_token)

    def ready(address: str) -> None:
        print(
            f"serving the archive at {address} (listening on {listen}:{port}; Ctrl+C stops)",
            file=out,
            flush=True,
        )
        if not settings.bot_token:
            print(
                "personal calls (bookmarks, follows, watches) answer 401: BOT_TOKEN is not "
                "set, so launch data cannot be checked",
                file=out,
                flush=True,
            )

    try:
        asyncio.run(serve_web(settings, ready))
    except ListenError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


def deliver(settings: Settings, date_arg: str | None) -> int:
    if not settings.bot_token:
        print("BOT_TOKEN is not set: export the bot token from @BotFather first.", file=sys.stderr)
        return 2
    from datetime import datetime

    from telegram.error import InvalidToken, NetworkError, TimedOut

    from bot.app import deliver_once, protect_logs
    from bot.arguments import UsageError, parse_day_arg

    try:
        day = parse_day_arg(date_arg or "", datetime.now().date())
    except UsageError:
        print(f"not a date: {date_arg!r} (YYYY-MM-DD, today, yesterday or latest)", file=sys.stderr)
        return 2
    protect_logs(settings.bot_token)
    logging.getLogger("bot.delivery").setLevel(logging.WARNING)  # the summary is printed below
    try:
        report = asyncio.run(deliver_once(settings, day))
    except InvalidToken:
        print(REFUSED_TOKEN, file=sys.stderr)
        return 2
    except (NetworkError, TimedOut) as exc:
        print(f"Telegram unreachable ({exc.__class__.__name__}); nothing was sent", file=sys.stderr)
        return 1
    with speaking("en"):  # the command line speaks English, as the rest of it does
        print(report.summary())
    return 0
