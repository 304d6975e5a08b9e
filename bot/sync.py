"""Digest sync: load new or changed day files from ``DIGEST_SOURCE``.

The source is a git repository (a URL, or the path of a repository) or a plain folder. A
repository is cloned once into the data folder and fetched on each check; its day files
are ``paper_logs/YYYY/MM/DD.md`` when it has that folder (the upstream layout), else any
``*.md``. A folder's files are any ``*.md`` under it. Each file's content hash is kept in
the store (``source_file``): a file is loaded when it is new or its content changed, as
``python -m bot load`` would load it (a changed day is replaced: the newer file wins). A
fetch that fails is one warning; the next check tries again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.digest import DigestError
from bot.loading import load_files
from bot.store.db import open_store
from bot.store.ingest import LoadReport
from bot.store.models import SourceFile

log = logging.getLogger(__name__)

GIT_TIMEOUT = 300  # seconds for a clone or a fetch
SYNC_LOCK = 0x73796E63  # pg_try_advisory_lock key: one sync at a time ("sync")


class SyncError(RuntimeError):
    """The source could not be read this time (a failed clone or fetch, a missing folder)."""


@dataclass
class SyncReport:
    source: str
    files: int = 0  # day files the source has
    changed: list[str] = field(default_factory=list)  # new or changed, loaded or rejected
    load: LoadReport = field(default_factory=LoadReport)
    rejected: list[DigestError] = field(default_factory=list)
    # Unchanged files rejected by an earlier check: not loaded again until they change.
    still_rejected: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    skipped: bool = False  # another instance was syncing

    def summary(self) -> str:
        if self.skipped:
            return f"{self.source}: another instance is syncing it"
        days = len(set(self.load.days))
        return (
            f"{self.source}: {self.files} file(s), {len(self.changed)} new or changed; "
            f"{days} day(s) loaded: {self.load.added} paper(s) added, "
            f"{self.load.replaced} replaced, {self.load.unchanged} unchanged, "
            f"{self.load.removed} removed; "
            f"{len(self.rejected) + len(self.still_rejected)} rejected"
        )

    @property
    def failed(self) -> bool:
        """Does some file of the source not load (rejected now or earlier, unchanged)?"""
        return bool(self.rejected or self.still_rejected)


def is_git_source(source: str) -> bool:
    if "://" in source or source.startswith("git@") or source.endswith(".git"):
        return True
    path = Path(source)
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def _git(*args: str, cwd: Path | None = None) -> None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password
    try:
        subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
        )
    except FileNotFoundError as exc:
        raise SyncError("git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise SyncError(f"git {args[0]} took longer than {GIT_TIMEOUT} s") from exc
    except subprocess.CalledProcessError as exc:
        reason = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise SyncError(f"git {args[0]} failed: {reason[-1] if reason else exc}") from exc


def checkout(settings: Settings, source: str) -> Path:
    """The source's files on disk now: the folder itself, or a clone brought up to date."""
    if not is_git_source(source):
        folder = Path(source)
        if not folder.is_dir():
            raise SyncError(f"{source} is not a folder or a git repository")
        return folder
    clone = Path(settings.data_dir) / "digest-source"
    origin = source if "://" in source or source.startswith("git@") else str(Path(source).resolve())
    if clone.is_dir() and _remote(clone) != origin:
        shutil.rmtree(clone)  # DIGEST_SOURCE changed: start over
    if not clone.is_dir():
        clone.parent.mkdir(parents=True, exist_ok=True)
        partial = clone.with_name(clone.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        _git("clone", "--quiet", "--depth", "1", "--", origin, str(partial))
        partial.rename(clone)
        return clone
    _git("fetch", "--quiet", "--depth", "1", "origin", "HEAD", cwd=clone)
    _git("reset", "--quiet", "--hard", "FETCH_HEAD", cwd=clone)
    return clone


def _remote(clone: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "config", "--get", "remote.origin.url"],
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


def day_files(root: Path) -> list[Path]:
    """The day files under a checkout: ``paper_logs/`` in the upstream layout, else any
    ``*.md`` (hidden folders such as ``.git`` left out)."""
    base = root / "paper_logs" if (root / "paper_logs").is_dir() else root
    found = [
        p
        for p in base.rglob("*.md")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    if base == root:
        found = [p for p in found if p.name.lower() != "readme.md"]
    return sorted(found)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def changed_files(
    session: Session, root: Path, files: Sequence[Path]
) -> tuple[list[Path], list[tuple[str, str]]]:
    """The files that are new or changed since they were last loaded, and the unchanged
    ones that were rejected then (with why)."""
    known = {
        path: (sha256, error)
        for path, sha256, error in session.execute(
            select(SourceFile.path, SourceFile.sha256, SourceFile.error)
        )
    }
    changed, rejected = [], []
    for path in files:
        name = path.relative_to(root).as_posix()
        sha256, error = known.get(name, (None, None))
        if sha256 != _digest(path):
            changed.append(path)
        elif error:
            rejected.append((name, error))
    return changed, rejected


def _record(session: Session, root: Path, files: Sequence[Path], errors: dict[str, str]) -> None:
    now = datetime.now(UTC)
    for path in files:
        name = path.relative_to(root).as_posix()
        row = session.get(SourceFile, name)
        if row is None:
            row = SourceFile(path=name)
            session.add(row)
        row.sha256, row.loaded_at, row.error = _digest(path), now, errors.get(str(path))
    session.commit()


def sync_once(settings: Settings, source: str | None = None) -> SyncReport:
    """One check of the source: load what is new or changed. :class:`SyncError` when the
    source cannot be read."""
    source = source or settings.digest_source
    if not source:
        raise SyncError("no digest source: set DIGEST_SOURCE or name one")
    report = SyncReport(source)
    with open_store(settings.database_url) as Session, _sync_lock(Session.kw["bind"]) as mine:
        if not mine:
            report.skipped = True
            return report
        root = checkout(settings, source)
        files = day_files(root)
        report.files = len(files)
        with Session() as session:
            changed, report.still_rejected = changed_files(session, root, files)
        report.changed = [p.relative_to(root).as_posix() for p in changed]
        if changed:
            report.load, report.rejected, _stored = load_files(settings, changed)
            errors = {e.source: e.reason for e in report.rejected}
            with Session() as session:
                _record(session, root, changed, errors)
    return report


@contextmanager
def _sync_lock(engine: Engine) -> Iterator[bool]:
    """On PostgreSQL one instance syncs at a time: a session lock on a connection of its
    own, held for the whole check (SQLite has one instance)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn:
        mine = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": SYNC_LOCK}))
        conn.commit()
        try:
            yield mine
        finally:
            if mine:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SYNC_LOCK})
                conn.commit()
