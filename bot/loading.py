"""Loading digest files: parsed in worker processes while this process stores them.

Files are parsed in two worker processes while the calling process stores what is ready,
many files to a transaction; a file the database refuses is stored again alone and
rejected, so a rejected file changes nothing and the others load. ``python -m bot load``,
``/load``-free bulk loads and the digest sync all come through :func:`load_files`.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from tqdm import tqdm

from bot.config import Settings
from bot.digest import Digest, DigestError, read_digest
from bot.store.db import begin_writing, open_store
from bot.store.ingest import IndexChanges, LoadReport, store_digests, write_index
from bot.store.prepared import PreparedDigest, prepare

log = logging.getLogger(__name__)
_BATCH_FILES = 50  # files stored per transaction, at most
_EARLY_FILES = 16  # ... and at least, unless the next file is parsed already
_CHUNK_FILES = 4  # files per task of a parse worker
_CHUNKS_AHEAD = 16  # tasks queued or parsed ahead of storing
_PARSE_WORKERS = 2


@dataclass
class DigestFiles:
    """What the paths given to ``load`` hold: the files to read, the paths that are not
    there, and the files in a folder that are plainly not digests."""

    files: list[Path] = field(default_factory=list)
    missing: list[DigestError] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


_DATED_NAME_RE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_HEADING_RE = re.compile(rb"Daily Papers\s*\(\s*\d{4}-\d{1,2}-\d{1,2}\s*\)", re.I)


def plainly_not_a_digest(path: Path) -> bool:
    """A file in a folder with no date in its name and no ``Daily Papers (date)`` heading
    near its start (a README, a LICENSE beside the digests)."""
    if _DATED_NAME_RE.search(path.name):
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(64 * 1024)
    except OSError:
        return False  # reading it is judged as a digest, and said
    return _HEADING_RE.search(head) is None


def digest_files(paths: Sequence[str]) -> DigestFiles:
    """Expand files and folders (recursive ``*.md``) in a stable order. A file named is
    always read as a digest; in a folder, files plainly not digests are skipped."""
    found_files = DigestFiles()
    files, missing = found_files.files, found_files.missing
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.md") if p.is_file())
            if not found:
                missing.append(DigestError(raw, "no *.md files in this folder"))
            for candidate in found:
                if plainly_not_a_digest(candidate):
                    found_files.skipped.append(candidate)
                else:
                    files.append(candidate)
        elif path.is_file():
            files.append(path)
        else:
            missing.append(DigestError(raw, "no such file or folder"))
    return found_files


def _parse(path: Path) -> PreparedDigest | DigestError:
    """One file, parsed and prepared; whatever goes wrong is that file's rejection (a worker
    process sends it back, so it must be a :class:`DigestError`, which pickles)."""
    try:
        return prepare(read_digest(path))
    except DigestError as exc:
        return exc
    except Exception as exc:  # a bug must cost one file, not the load
        log.exception("reading %s failed", path)
        return DigestError(str(path), f"could not be read ({exc.__class__.__name__})")


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
        yield _batches(pool, chunks)
    finally:
        pool.shutdown(cancel_futures=True)


_Parsed = list[PreparedDigest | DigestError]


def _batches(pool: ProcessPoolExecutor, chunks: list[Sequence[Path]]) -> Iterator[_Parsed]:
    # A bounded number of chunks in flight: parsed files never pile up in memory.
    pending: deque[tuple[Future[_Parsed], Sequence[Path]]] = deque()
    upcoming = iter(chunks)

    def submit() -> None:
        chunk = next(upcoming, None)
        if chunk is not None:
            try:
                pending.append((pool.submit(_parse_chunk, chunk), chunk))
            except BrokenProcessPool:
                pending.append((_failed(), chunk))

    for _ in range(_CHUNKS_AHEAD):  # the workers start now, while the caller opens its store
        submit()
    return _drain(pending, submit)


def _drain(
    pending: deque[tuple[Future[_Parsed], Sequence[Path]]], submit: Callable[[], None]
) -> Iterator[_Parsed]:
    batch: _Parsed = []
    while pending:
        future, chunk = pending.popleft()
        try:
            batch += future.result()
        except BrokenProcessPool:  # a worker died (killed, out of memory): parse it here
            log.warning("a parse worker stopped; parsing %d file(s) in this process", len(chunk))
            batch += [_parse(path) for path in chunk]
        submit()
        while len(batch) >= _BATCH_FILES:  # chunks need not add up to a whole batch
            yield batch[:_BATCH_FILES]
            batch = batch[_BATCH_FILES:]
        waiting = bool(pending) and not pending[0][0].done()
        if batch and (not pending or (waiting and len(batch) >= _EARLY_FILES)):
            yield batch
            batch = []


def _failed() -> Future[_Parsed]:
    future: Future[_Parsed] = Future()
    future.set_exception(BrokenProcessPool("the parse workers stopped"))
    return future


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
    except (SQLAlchemyError, OverflowError) as exc:  # the driver's own refusals too
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


def load_files(
    settings: Settings, files: Sequence[Path], progress: bool = False
) -> tuple[LoadReport, list[DigestError], int]:
    """Parse and store digest files: what changed, the files rejected, how many stored."""
    report = LoadReport()
    rejected: list[DigestError] = []
    stored = 0
    with (
        parsing(list(files)) as batches,
        open_store(settings.database_url) as Session,  # a missing database fails here
        tqdm(
            total=len(files),
            unit="file",
            desc="loading",
            file=sys.stderr,
            disable=not files or not progress,
        ) as bar,
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
    return report, rejected, stored
