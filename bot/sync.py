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
from bot.digest import DigestError, shown_path
from bot.loading import load_files
from bot.store.db import open_store
from bot.store.ingest import LoadReport
from bot.store.models import SourceFile

log = logging.getLogger(__name__)

GIT_TIMEOUT = 300  # seconds for a clone or a fetch
SYNC_LOCK = 0x73796E63  # advisory lock key: one sync at a time ("sync" in ASCII)


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
    links: list[str] = field(default_factory=list)  # symbolic links, never followed
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
        # Links are checked out as plain files holding their target: nothing of the host
        # is ever reached through the source (and day_files skips them by their mode).
        _git(
            "clone",
            "--quiet",
            "--depth",
            "1",
            "-c",
            "core.symlinks=false",
            "--",
            origin,
            str(partial),
        )
        partial.rename(clone)
        return clone
    _git("config", "core.symlinks", "false", cwd=clone)  # a clone made before this rule
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


def _name(root: Path, path: Path) -> str:
    """A file's name within the source, as stored and shown (see :func:`shown_path`)."""
    return shown_path(path.relative_to(root).as_posix())


def _git_links(root: Path) -> set[str]:
    """The paths a git checkout holds as symbolic links (mode 120000): checked out as plain
    files (``core.symlinks=false``), and never read as digests."""
    if not (root / ".git").exists():
        return set()
    result = subprocess.run(
        ["git", "ls-files", "-s", "-z"], cwd=root, capture_output=True, timeout=GIT_TIMEOUT
    )
    links = set()
    for entry in result.stdout.split(b"\0"):
        meta, _tab, name = entry.partition(b"\t")
        if meta.startswith(b"120000"):
            links.add(shown_path(os.fsdecode(name)))
    return links


def day_files(root: Path) -> tuple[list[Path], list[str]]:
    """The day files under a checkout: ``paper_logs/`` in the upstream layout, else any
    ``*.md`` (hidden folders such as ``.git`` left out); and the links it skipped. No link
    is followed, to a file or a folder, inside the source or out of it: the source is
    someone else's, and what it points at is this host's."""
    real_root = root.resolve()
    links = _git_links(root)
    base = root / "paper_logs"
    if base.is_symlink():
        return [], [_name(root, base)]
    if not base.is_dir():
        base = root
    found: list[Path] = []
    skipped: list[str] = []
    for folder, dirs, names in os.walk(base, followlinks=False):
        here = Path(folder)
        for name in list(dirs):
            if name.startswith(".") or (here / name).is_symlink():
                dirs.remove(name)
                if not name.startswith("."):
                    skipped.append(_name(root, here / name))
        for name in names:
            path = here / name
            if not name.endswith(".md") or (base == root and name.lower() == "readme.md"):
                continue
            shown = _name(root, path)
            if path.is_symlink() or shown in links or not path.resolve().is_relative_to(real_root):
                skipped.append(shown)
            elif path.is_file():
                found.append(path)
    prefix = "" if base == root else _name(root, base) + "/"
    skipped += [link for link in links if link.startswith(prefix) and link not in skipped]
    return sorted(found), sorted(skipped)


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
        name = _name(root, path)
        sha256, error = known.get(name, (None, None))
        if sha256 != _digest(path):
            changed.append(path)
        elif error:
            rejected.append((name, error))
    return changed, rejected


def _record(session: Session, root: Path, files: Sequence[Path], errors: dict[str, str]) -> None:
    now = datetime.now(UTC)
    for path in files:
        name = _name(root, path)
        row = session.get(SourceFile, name)
        if row is None:
            row = SourceFile(path=name)
            session.add(row)
        row.sha256, row.loaded_at, row.error = _digest(path), now, errors.get(shown_path(path))
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
        files, report.links = day_files(root)
        report.files = len(files)
        with Session() as session:
            changed, report.still_rejected = changed_files(session, root, files)
        report.changed = [_name(root, p) for p in changed]
        if changed:
            report.load, report.rejected, _stored = load_files(settings, changed)
            errors = {e.source: e.reason for e in report.rejected}
            with Session() as session:
                _record(session, root, changed, errors)
    return report


@contextmanager
def _sync_lock(engine: Engine) -> Iterator[bool]:
    """On PostgreSQL one instance syncs at a time: a transaction lock, in a transaction of
    its own kept open for the whole check (SQLite has one instance). A session lock would
    not hold through a transaction pooler such as PgBouncer: it stays on the server
    connection the pooler lent, which it lends the next client too."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn, conn.begin():
        yield bool(conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SYNC_LOCK}))
