"""Digest sync from a git repository (a local bare one the test commits to) or a folder:
new and changed day files load, unchanged ones don't, a failed fetch is one line and the
next check recovers; the running bot syncs by itself and alerts follow."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import cli
from bot.store import rules
from bot.store.db import make_engine
from bot.store.models import DigestDay, RuleKind, SourceFile
from bot.sync import SyncError, _sync_lock, sync_once
from tests.helpers.digests import SEEDS, day_file
from tests.helpers.e2e import USER, bot_session
from tests.helpers.pgbouncer import PGBOUNCER, transaction_pooler


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[Path, Path]:
    """A bare repository (what DIGEST_SOURCE names) and a working copy that pushes to it."""
    bare, work = tmp_path / "upstream.git", tmp_path / "work"
    git("init", "--quiet", "--bare", str(bare), cwd=tmp_path)
    git("symbolic-ref", "HEAD", "refs/heads/main", cwd=bare)
    git("init", "--quiet", str(work), cwd=tmp_path)
    for key, value in (("user.name", "Upstream"), ("user.email", "u@example.org")):
        git("config", key, value, cwd=work)
    git("remote", "add", "origin", str(bare), cwd=work)
    return bare, work


def publish(work: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "days", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)


def days(Store) -> list[str]:
    with Store() as session:
        return [
            d.isoformat() for d in session.scalars(select(DigestDay.day).order_by(DigestDay.day))
        ]


def test_a_git_source_loads_new_and_changed_days_only(Store, settings, tmp_path, upstream) -> None:
    bare, work = upstream
    settings = dataclasses.replace(settings, data_dir=str(tmp_path / "data"))
    seed = (SEEDS / "2024-04-25.md").read_bytes()
    publish(
        work,
        {
            "paper_logs/2024/04/25.md": seed,
            "paper_logs/2024/03/19.md": (SEEDS / "2024-03-19.md").read_bytes(),
            "README.md": b"# not a day\n",
        },
    )
    first = sync_once(settings, str(bare))
    assert (first.files, len(first.changed), first.load.added) == (2, 2, 22)
    assert days(Store) == ["2024-03-19", "2024-04-25"]
    assert sync_once(settings, str(bare)).changed == []  # nothing new: nothing loaded

    changed = seed.replace(b"Vote: 9", b"Vote: 99")
    publish(
        work,
        {
            "paper_logs/2024/04/25.md": changed,
            "paper_logs/2024/05/02.md": (day_file(tmp_path).read_bytes()),
        },
    )
    second = sync_once(settings, str(bare))
    assert sorted(second.changed) == ["paper_logs/2024/04/25.md", "paper_logs/2024/05/02.md"]
    assert (second.load.added, second.load.replaced, second.load.unchanged) == (3, 1, 8)
    assert days(Store)[-1] == "2024-05-02"
    with Store() as session:
        assert session.scalar(select(func.count()).select_from(SourceFile)) == 3


def test_a_failed_fetch_is_one_line_and_the_next_check_recovers(
    Store, settings, tmp_path, upstream
) -> None:
    bare, work = upstream
    settings = dataclasses.replace(settings, data_dir=str(tmp_path / "data"))
    publish(work, {"paper_logs/2024/04/25.md": (SEEDS / "2024-04-25.md").read_bytes()})
    sync_once(settings, str(bare))
    moved = bare.with_name("moved.git")
    bare.rename(moved)
    with pytest.raises(SyncError, match="git fetch failed"):
        sync_once(settings, str(bare))
    err = io.StringIO()
    assert cli.sync(settings, str(tmp_path / "nowhere"), err) == 1
    moved.rename(bare)
    publish(work, {"paper_logs/2024/03/19.md": (SEEDS / "2024-03-19.md").read_bytes()})
    assert sync_once(settings, str(bare)).changed == ["paper_logs/2024/03/19.md"]


def test_a_folder_source_and_a_bad_file_in_it(Store, settings, tmp_path) -> None:
    folder = tmp_path / "digests"
    folder.mkdir()
    shutil.copy(SEEDS / "2023-12-05.md", folder / "2023-12-05.md")
    (folder / "broken.md").write_bytes(b"\xff\xfe not utf-8")
    out = io.StringIO()
    assert cli.sync(settings, str(folder), out) == 1  # the bad file is named, the good loads
    assert "rejected:" in out.getvalue() and "broken.md" in out.getvalue()
    assert days(Store) == ["2023-12-05"]
    out = io.StringIO()
    assert cli.sync(settings, str(folder), out) == 1  # not retried unchanged, but still bad
    assert "0 new or changed" in out.getvalue()
    assert "still rejected: broken.md: " in out.getvalue()
    (folder / "broken.md").unlink()
    out = io.StringIO()
    assert cli.sync(settings, str(folder), out) == 0  # gone from the source: nothing rejected
    assert "rejected" not in out.getvalue().replace("0 rejected", "")


async def test_the_running_bot_syncs_and_followers_are_alerted(
    Store, settings, tmp_path, upstream
) -> None:
    bare, work = upstream
    publish(work, {"paper_logs/2024/04/25.md": (SEEDS / "2024-04-25.md").read_bytes()})
    with Store() as session:
        rules.add_rule(session, USER, RuleKind.FOLLOW, "munos")
    publish(work, {"paper_logs/2024/05/02.md": day_file(tmp_path).read_bytes()})
    settings = dataclasses.replace(
        settings, digest_source=str(bare), data_dir=str(tmp_path / "data")
    )
    async with bot_session(settings) as (emulator, _app):
        await emulator.wait_until(
            lambda: any(m.text.startswith("🔔") for m in emulator.messages_in(USER)), timeout=20
        )
    assert "👤 munos" in emulator.messages_in(USER)[-1].text
    assert days(Store) == ["2024-04-25", "2024-05-02"]


def test_a_file_name_that_is_not_utf8_costs_nothing(Store, settings, tmp_path) -> None:
    """A day file whose name is not UTF-8 is loaded (named with its odd bytes escaped), and
    neither it nor the good ones ever stop a load or a sync."""
    folder = tmp_path / "digests"
    folder.mkdir()
    shutil.copy(SEEDS / "2023-12-05.md", folder / "2023-12-05.md")
    odd = os.fsdecode(bytes(folder) + b"/\xff\xfe-2024-04-25.md")
    shutil.copy(SEEDS / "2024-04-25.md", odd)
    out = io.StringIO()
    assert cli.load(settings, [str(folder)], out) == 0, out.getvalue()
    assert days(Store) == ["2023-12-05", "2024-04-25"]
    for _ in range(2):
        out = io.StringIO()
        assert cli.sync(settings, str(folder), out) == 0, out.getvalue()
    with Store() as session:
        names = session.scalars(select(SourceFile.path)).all()
    assert sorted(names) == ["2023-12-05.md", "\\xff\\xfe-2024-04-25.md"]


@pytest.mark.parametrize("kind", ["folder", "git"])
def test_sync_never_follows_a_link_out_of_its_source(
    Store, settings, tmp_path, upstream, kind: str
) -> None:
    """The source is someone else's: a file symlink to a digest elsewhere on the host and a
    paper_logs symlink to an outside folder are neither read nor stored."""
    outside = tmp_path / "outside"
    (outside / "2024" / "03").mkdir(parents=True)
    shutil.copy(SEEDS / "2024-03-19.md", outside / "2024" / "03" / "19.md")
    secret = tmp_path / "secret.md"
    shutil.copy(SEEDS / "2024-03-11.md", secret)
    if kind == "folder":
        source = tmp_path / "source"
        (source / "paper_logs" / "2024" / "04").mkdir(parents=True)
        shutil.copy(SEEDS / "2024-04-25.md", source / "paper_logs" / "2024" / "04" / "25.md")
        (source / "paper_logs" / "2024" / "04" / "11.md").symlink_to(secret)
        (source / "paper_logs" / "2023").symlink_to(outside)
        where = str(source)
    else:
        bare, work = upstream
        (work / "paper_logs" / "2024" / "04").mkdir(parents=True)
        shutil.copy(SEEDS / "2024-04-25.md", work / "paper_logs" / "2024" / "04" / "25.md")
        (work / "paper_logs" / "2024" / "04" / "11.md").symlink_to(secret)
        (work / "paper_logs" / "2023").symlink_to(outside)
        publish(work, {})
        where = str(bare)
    settings = dataclasses.replace(settings, data_dir=str(tmp_path / "data"))
    out = io.StringIO()
    cli.sync(settings, where, out)
    assert days(Store) == ["2024-04-25"], out.getvalue()
    assert "skipped (a link): paper_logs/2024/04/11.md" in out.getvalue()
    assert "skipped (a link): paper_logs/2023" in out.getvalue()


@pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer is not installed (CI installs it)")
def test_one_sync_at_a_time_through_a_transaction_pooler(settings) -> None:
    """Behind PgBouncer in transaction mode, a session lock stays on whichever server
    connection the pooler lent, which the next client may be lent too: both would sync,
    and a release sent down another connection would leave the lock held for good. The
    lock is the check's own transaction's, which keeps its connection while it runs."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("instances share a PostgreSQL (this run is SQLite)")
    with transaction_pooler(settings.database_url, server_connections=2) as through:
        first, second = make_engine(through), make_engine(through)
        try:
            with _sync_lock(first) as mine:
                assert mine
                with _sync_lock(second) as also_mine:
                    assert not also_mine
            with _sync_lock(second) as mine_now:  # let go: the next check may sync
                assert mine_now
        finally:
            first.dispose()
            second.dispose()
