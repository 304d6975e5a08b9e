"""Operator commands behind ``python -m bot``: load, export, stats, deliver, run, demo.

Each returns a process exit code. Files are parsed in worker processes while the main
process stores what is ready, many files to a transaction; a file the database refuses is
stored again alone and rejected, so a rejected file changes nothing and the others load.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from tqdm import tqdm

from bot.config import Settings
from bot.digest import Digest, DigestError, read_digest
from bot.render import stats_lines
from bot.store import queries
from bot.store.db import begin_writing, open_store
from bot.store.ingest import (
    IndexChanges,
    LoadReport,
    PreparedDigest,
    prepare,
    store_digests,
    write_index,
)

log = logging.getLogger(__name__)
_BATCH_FILES = 50  # files stored per transaction, at most
_EARLY_FILES = 16  # ... and at least, unless the next file is parsed already
_CHUNK_FILES = 4  # files per task of a parse worker
_CHUNKS_AHEAD = 16  # tasks queued or parsed ahead of storing
_PARSE_WORKERS = 2


def digest_files(paths: Sequence[str]) -> tuple[list[Path], list[DigestError]]:
    """Expand files and folders (recursive ``*.md``) in a stable order."""
    files: list[Path] = []
    missing: list[DigestError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.md") if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            missing.append(DigestError(raw, "no such file or folder"))
    return files, missing


def _parse(path: Path) -> PreparedDigest | DigestError:
    try:
        return prepare(read_digest(path))
    except DigestError as exc:
        return exc


def _parse_chunk(paths: Sequence[Path]) -> list[PreparedDigest | DigestError]:
    return [_parse(path) for path in paths]


@contextmanager
def parsing(
    files: Sequence[Path], workers: int = _PARSE_WORKERS
) -> Iterator[Iterator[list[PreparedDigest | DigestError]]]:
    """Start parsing ``files``, and give their parsed batches in order, up to
    ``_BATCH_FILES`` files each. Many files are parsed by worker processes from the moment
    this is entered (the caller opens its store meanwhile) and while the caller stores.
    A batch of ``_EARLY_FILES`` or more is handed over early when the next file isn't
    parsed yet, so storing rarely waits. The workers run at a lower priority: on two
    cores, the process that stores is the one everything waits for."""
    if len(files) < 16:
        yield iter([[_parse(path) for path in files]])
        return
    chunks = [files[i : i + _CHUNK_FILES] for i in range(0, len(files), _CHUNK_FILES)]
    pool = ProcessPoolExecutor(max_workers=workers, initializer=os.nice, initargs=(10,))
    try:
        # A bounded number of chunks in flight: parsed files never pile up in memory.
        pending = deque(pool.submit(_parse_chunk, c) for c in chunks[:_CHUNKS_AHEAD])
        yield _batches(pool, chunks, pending)
    finally:
        pool.shutdown(cancel_futures=True)


def _batches(
    pool: ProcessPoolExecutor,
    chunks: list[Sequence[Path]],
    pending: deque[Future[list[PreparedDigest | DigestError]]],
) -> Iterator[list[PreparedDigest | DigestError]]:
    queued = len(pending)
    batch: list[PreparedDigest | DigestError] = []
    while pending:
        batch += pending.popleft().result()
        if queued < len(chunks):
            pending.append(pool.submit(_parse_chunk, chunks[queued]))
            queued += 1
        waiting = bool(pending) and not pending[0].done()
        if len(batch) >= _BATCH_FILES or not pending or (waiting and len(batch) >= _EARLY_FILES):
            yield batch
            batch = []


def store_batch(
    session: Session, batch: Sequence[Digest | PreparedDigest]
) -> tuple[LoadReport, list[DigestError]]:
    """Store parsed files in one transaction, search index included. Should the database
    refuse it, they are stored one by one, so that only the file at fault is rejected."""
    try:
        begin_writing(session)
        changes = IndexChanges()
        report = store_digests(session, batch, changes)
        write_index(session, changes)
        session.commit()
        return report, []
    except SQLAlchemyError as exc:
        session.rollback()
        if len(batch) == 1:
            log.exception("storing %s failed", batch[0].source)
            reason = f"database error: {exc.__class__.__name__}"
            return LoadReport(), [DigestError(batch[0].source, reason)]
    report, errors = LoadReport(), []
    for digest in batch:
        one_report, one_errors = store_batch(session, [digest])
        report.merge(one_report)
        errors += one_errors
    return report, errors


def load(
    settings: Settings, paths: Sequence[str], out: TextIO = sys.stdout, progress: bool = True
) -> int:
    files, rejected = digest_files(paths)
    report = LoadReport()
    stored = 0
    bar = tqdm(
        total=len(files),
        unit="file",
        desc="loading",
        file=sys.stderr,
        disable=not files or not progress,
    )
    with (
        bar,
        parsing(files) as batches,
        open_store(settings.database_url) as Session,
        Session() as session,
    ):
        for parsed in batches:
            bar.update(len(parsed))
            batch: list[PreparedDigest] = []
            for result in parsed:
                if isinstance(result, DigestError):
                    rejected.append(result)
                else:
                    batch.append(result)
            if batch:
                batch_report, errors = store_batch(session, batch)
                report.merge(batch_report)
                rejected += errors
                stored += len(batch) - len(errors)
    days = len(set(report.days))
    print(
        f"loaded {stored} file(s), "
        f"{days} day(s): {report.added} paper(s) added, {report.replaced} replaced, "
        f"{report.removed} removed, {len(report.warnings)} warning(s)",
        file=out,
    )
    for warning in report.warnings[:50]:
        print(f"warning: {warning}", file=out)
    if len(report.warnings) > 50:
        print(f"warning: … and {len(report.warnings) - 50} more", file=out)
    for error in rejected:
        print(f"rejected: {error}", file=out)
    return 1 if rejected else 0


def export(settings: Settings, out: TextIO = sys.stdout) -> int:
    with open_store(settings.database_url) as Session, Session() as session:
        for row in queries.export_rows(session):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


def stats(settings: Settings, out: TextIO = sys.stdout) -> int:
    with open_store(settings.database_url) as Session, Session() as session:
        for line in stats_lines(queries.stats(session)):
            print(line, file=out)
    return 0


def run(settings: Settings) -> int:
    if not settings.bot_token:
        print("BOT_TOKEN is not set: export the bot token from @BotFather first.", file=sys.stderr)
        return 2
    from bot.app import protect_logs, serve

    protect_logs(settings.bot_token)
    asyncio.run(serve(settings))
    return 0


def deliver(settings: Settings, date_arg: str | None) -> int:
    if not settings.bot_token:
        print("BOT_TOKEN is not set: export the bot token from @BotFather first.", file=sys.stderr)
        return 2
    from datetime import datetime

    from bot.app import deliver_once, protect_logs
    from bot.arguments import LATEST, UsageError, parse_day_arg

    try:
        day = parse_day_arg(date_arg or "", datetime.now().date())
    except UsageError:
        print(f"not a date: {date_arg!r} (YYYY-MM-DD, today, yesterday or latest)", file=sys.stderr)
        return 2
    protect_logs(settings.bot_token)
    report = asyncio.run(deliver_once(settings, None if day == LATEST else day))  # type: ignore[arg-type]
    print(report.summary())
    return 0


def demo(settings: Settings) -> int:
    from bot.demo import demo as run_demo

    return run_demo(settings)
