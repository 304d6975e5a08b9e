"""The store: loading days, replacing them, authors, export, and the load command."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bot import cli, loading
from bot.codec import CallbackKind
from bot.config import Settings
from bot.digest import read_digest
from bot.store import queries
from bot.store.db import (
    begin_writing,
    init_schema,
    is_postgres,
    make_engine,
    open_store,
    session_factory,
)
from bot.store.indexing import index_fields
from bot.store.ingest import LoadReport, store_digests
from bot.store.models import AuthorWord, DigestDay, Entry, Paper, PaperAuthor
from bot.store.search import search_papers
from tests.helpers.digests import ROOT, SEEDS, SLICE, load_paths, synthetic_days


def export_lines(settings: Settings) -> list[dict]:
    out = io.StringIO()
    assert cli.export(settings, out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_whole_corpus_in_the_store(CorpusStore) -> None:
    with CorpusStore() as session:
        stats = queries.stats(session)
        assert (stats.days, stats.entries) == (201, 2478)
        assert stats.first_day == date(2023, 11, 20) and stats.last_day == date(2024, 9, 30)
        bad = session.scalar(
            select(func.count())
            .select_from(Paper)
            .where(
                (Paper.arxiv_id == "") | (Paper.title == "") | (func.length(Paper.search_text) < 10)
            )
        )
        assert bad == 0
        # every entry's paper has its index row and its authors
        expected = sum(len(a) for a in session.scalars(select(Paper.authors)))
        assert session.scalar(select(func.count()).select_from(PaperAuthor)) == expected > 19_000


def test_reloading_identical_files_says_they_are_unchanged(settings: Settings) -> None:
    out = io.StringIO()
    assert cli.load(settings, [str(SEEDS)], out) == 0
    assert "67 paper(s) added, 0 replaced, 0 unchanged" in out.getvalue()
    again = io.StringIO()
    assert cli.load(settings, [str(SEEDS)], again) == 0
    assert "0 paper(s) added, 0 replaced, 67 unchanged, 0 removed" in again.getvalue()


def test_stats_names_its_database_first_and_an_empty_store_plainly(
    settings: Settings, tmp_path: Path
) -> None:
    out = io.StringIO()
    assert cli.stats(settings, out) == 0
    lines = out.getvalue().splitlines()
    if settings.database_url.startswith("sqlite"):
        assert lines[0] == f"database: SQLite {tmp_path / 'bot.sqlite3'}"
    else:
        assert lines[0].startswith("database: PostgreSQL ") and "@" not in lines[0]
    assert "papers: 0" in lines and "days: 0" in lines and "last delivery: -" in lines


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///data/bot.sqlite3", f"SQLite {Path.cwd() / 'data/bot.sqlite3'}"),
        ("sqlite:////srv/bot.sqlite3", "SQLite /srv/bot.sqlite3"),
        (
            "postgresql+psycopg://bot:s3cret@db.example:5433/papers",
            "PostgreSQL papers on db.example:5433",
        ),
        ("postgresql+psycopg://bot:s3cret@db.example/papers", "PostgreSQL papers on db.example"),
        ("postgresql+psycopg:///papers", "PostgreSQL papers on localhost"),
    ],
)
def test_which_database_is_said_without_its_password(url: str, shown: str) -> None:
    from bot.store.db import describe_database

    assert describe_database(url) == shown


def test_load_twice_gives_identical_export(settings: Settings, tmp_path: Path) -> None:
    files = [str(p) for p in synthetic_days(tmp_path, 40)] + [str(SLICE), str(SEEDS)]
    assert cli.load(settings, files, io.StringIO()) == 0
    first = export_lines(settings)
    out = io.StringIO()
    assert cli.load(settings, files, out) == 0
    assert "0 paper(s) added" in out.getvalue()
    assert export_lines(settings) == first
    assert [row["date"] for row in first] == sorted(row["date"] for row in first)


def test_reloading_a_changed_day_replaces_it(Store, settings: Settings, tmp_path: Path) -> None:
    (first,) = synthetic_days(tmp_path / "a", 1)
    (changed_file,) = synthetic_days(tmp_path / "b", 1, variant=1)
    load_paths(Store, first)
    before = {r["arxiv_id"]: r for r in export_lines(settings)}
    load_paths(Store, changed_file)
    after = {r["arxiv_id"]: r for r in export_lines(settings)}
    assert before.keys() == after.keys()
    changed = [k for k in after if after[k]["summary"] != before[k]["summary"]]
    assert changed, "the two files differ in their summaries"
    with Store() as session:
        assert session.scalar(select(func.count()).select_from(Entry)) == len(after)
        assert session.scalar(select(func.count()).select_from(DigestDay)) == 1


def test_replacing_a_day_drops_papers_it_no_longer_has(Store, tmp_path: Path) -> None:
    day = "## Daily Papers (2024-01-01)\n\n"
    (tmp_path / "a.md").write_text(
        day + "### [Keep](https://arxiv.org/abs/2401.00001)\n\n- 유지되는 확산모델\n\n"
        "### [Gone](https://arxiv.org/abs/2401.00002)\n\nAuthors: Gone Author\n\n- 사라지는 논문\n"
    )
    load_paths(Store, tmp_path / "a.md")
    (tmp_path / "a.md").write_text(day + "### [Keep](https://arxiv.org/abs/2401.00001)\n\n- 유지\n")
    load_paths(Store, tmp_path / "a.md")
    with Store() as session:
        assert session.scalars(select(Paper.arxiv_id)).all() == ["2401.00001"]
        assert session.scalar(select(func.count()).select_from(AuthorWord)) == 0
        from bot.store.search import search_papers

        assert search_papers(session, "사라지는").total == 0
        assert search_papers(session, "확산").total == 0
        assert search_papers(session, "유지").total == 1


def test_votes_belong_to_each_day(Store, tmp_path: Path) -> None:
    for n, (day, votes) in enumerate([("2024-01-01", 5), ("2024-01-02", 9)]):
        (tmp_path / f"{n}.md").write_text(
            f"## Daily Papers ({day})\n\n### [P](https://arxiv.org/abs/2401.00001)\n\n"
            f"Vote: {votes}\n\n- 요약\n"
        )
        load_paths(Store, tmp_path / f"{n}.md")
    with Store() as session:
        assert [p.votes for p in queries.top_papers(session, date(2024, 1, 1))] == [5]
        assert [p.votes for p in queries.top_papers(session, date(2024, 1, 2))] == [9]
        paper = queries.get_paper(session, "2401.00001")
        assert paper and paper.days == (date(2024, 1, 2), date(2024, 1, 1)) and paper.votes == 9


def test_top_papers_by_votes_ties_keep_file_order(seeded) -> None:
    with seeded() as session:
        papers = queries.top_papers(session, date(2023, 12, 21))
    votes = [p.votes or 0 for p in papers]
    assert votes == sorted(votes, reverse=True)
    assert papers[0].arxiv_id == "2312.12491"  # 29 votes
    fives = [p.arxiv_id for p in papers if p.votes == 5]
    assert fives == ["2312.13285", "2312.13102", "2312.12682"]  # file order


def test_export_format(seeded, settings: Settings) -> None:
    rows = export_lines(settings)
    assert len(rows) == 67
    row = next(r for r in rows if r["arxiv_id"] == "2312.13286")
    assert set(row) == {"date", "arxiv_id", "title", "url", "votes", "authors", "summary", "media"}
    assert row["date"] == "2023-12-21" and row["votes"] == 19
    assert row["media"] == {
        "kind": "video",
        "url": "https://cdn-uploads.huggingface.co/production/uploads/60f1abe7544c2adfd699860c/g83HzHiihbV3XTzE43QjD.mp4",
    }
    assert row["authors"][0] == "Quan Sun" and len(row["authors"]) == 11
    assert all(isinstance(b, str) for b in row["summary"])
    keyed = next(r for r in rows if r["date"] == "2024-04-25")
    assert keyed["votes"] == 9 and keyed["media"]["kind"] == "image"


BAD_FILES = {
    "empty.md": b"",
    "binary.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00",
    "latin1.md": "## Daily Papers (2024-01-01)\n### [Caf\xe9](https://arxiv.org/abs/2401.1)\n".encode(
        "latin-1"
    ),
    "nopaper.md": "# 아무 논문도 없는 파일\n\n그냥 글\n".encode(),
    "huge.md": b"## Daily Papers (2024-01-01)\n" + b"x" * (10 * 1024 * 1024) + b"\n",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_rejected_and_changes_nothing(name: str, seeded, settings, tmp_path) -> None:
    before = export_lines(settings)
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name])
    out = io.StringIO()
    assert cli.load(settings, [str(path), str(SEEDS / "2024-04-25.md")], out) == 1
    text = out.getvalue()
    assert f"rejected: {path}" in text
    assert "loaded 1 file(s)" in text  # the good file still loads
    assert export_lines(settings) == before


def test_missing_path_is_reported(settings, tmp_path) -> None:
    out = io.StringIO()
    assert cli.load(settings, [str(tmp_path / "nope"), str(SEEDS)], out) == 1
    assert f"rejected: {tmp_path / 'nope'}: no such file or folder" in out.getvalue()
    assert "loaded 5 file(s), 5 day(s): 67 paper(s) added" in out.getvalue()


def test_truncated_file_loads_what_it_has(settings, tmp_path) -> None:
    data = (SEEDS / "2023-12-21.md").read_bytes()
    path = tmp_path / "2023-12-21.md"
    path.write_bytes(data[: data.index(b"### [Cached")])
    out = io.StringIO()
    assert cli.load(settings, [str(path)], out) == 0
    assert "loaded 1 file(s), 1 day(s): 5 paper(s) added" in out.getvalue()


def test_stats_command(seeded, settings) -> None:
    out = io.StringIO()
    assert cli.stats(settings, out) == 0
    assert "papers: 67" in out.getvalue() and "days: 5 (2023-12-05 … 2024-04-25)" in out.getvalue()


def _day(day: str, *papers: tuple[str, str, str, str]) -> str:
    """A digest: papers as (arXiv id, title, authors, summary)."""
    body = "".join(
        f"### [{title}](https://arxiv.org/abs/{arxiv_id})\n\nAuthors: {authors}\n\n- {summary}\n\n"
        for arxiv_id, title, authors, summary in papers
    )
    return f"## Daily Papers ({day})\n\n{body}"


A = ("2401.00001", "Alpha", "Ann Lee, Bo Kim", "확산모델 첫째")
B = ("2401.00002", "Beta", "Cy Park", "언어 모델 둘째")
B2 = ("2401.00002", "Beta v2", "Cy Park, Dee Oh", "고친 언어 모델")
C = ("2401.00003", "Gamma", "Eve Choi", "사라질 논문")
D = ("2401.00004", "Delta", "Fay Jung", "넷째 논문")
E = ("2401.00005", "Eps", "Gus Han", "다섯째")
# In order: a paper's text changes, a day is loaded twice, papers fall off every day and
# come back, one file holds two days.
SCENARIO = [
    ("1.md", _day("2024-01-01", A, B, C)),
    ("2.md", _day("2024-01-02", B2, D)),
    ("3.md", _day("2024-01-01", E, A)),
    ("4.md", _day("2024-01-03", C) + _day("2024-01-04", D, A)),
    ("5.md", _day("2024-01-02", D)),
    ("6.md", _day("2024-01-05", B, E)),
]
# Then B leaves its last day: stored before, rewritten and removed in one batch.
SCENARIO_END = ("7.md", _day("2024-01-05", E))


def _fingerprint(session) -> dict:
    """Everything loading writes, by arXiv id (row ids depend on the order of inserts)."""
    papers = session.execute(
        select(
            Paper.arxiv_id, Paper.title, Paper.latest_day, Paper.search_key, Paper.search_text
        ).order_by(Paper.arxiv_id)
    ).all()
    entries = session.execute(
        select(Entry.day, Paper.arxiv_id, Entry.position, Entry.votes)
        .join(Paper, Paper.id == Entry.paper_id)
        .order_by(Entry.day, Entry.position)
    ).all()
    authors = session.execute(
        select(Paper.arxiv_id, PaperAuthor.position, PaperAuthor.folded)
        .join(Paper, Paper.id == PaperAuthor.paper_id)
        .order_by(Paper.arxiv_id, PaperAuthor.position)
    ).all()
    words = session.execute(
        select(Paper.arxiv_id, AuthorWord.position, AuthorWord.word)
        .join(Paper, Paper.id == AuthorWord.paper_id)
        .order_by(Paper.arxiv_id, AuthorWord.position, AuthorWord.word)
    ).all()
    days = session.execute(select(DigestDay.day, DigestDay.source).order_by(DigestDay.day)).all()
    return {
        "papers": papers,
        "entries": entries,
        "authors": authors,
        "words": words,
        "days": days,
    }


def _assert_index_matches_papers(session) -> None:
    """One index row per paper, at its search key, holding its text's index terms."""
    keys = sorted(session.scalars(select(Paper.search_key)))
    if is_postgres(session):
        assert sorted(session.scalars(text("SELECT search_key FROM paper_fts"))) == keys
        return
    rows = session.execute(
        text("SELECT rowid, title, authors, summary FROM paper_fts ORDER BY rowid")
    ).all()
    expected = sorted(
        (key, *index_fields(folded))
        for key, folded in session.execute(select(Paper.search_key, Paper.search_text))
    )
    assert [tuple(r) for r in rows] == expected
    head = session.execute(text("SELECT rowid FROM paper_fts_head ORDER BY rowid")).scalars()
    assert list(head) == keys


def _store_in_batches(
    scenario: list[tuple[str, str]], batches: list[int], db_url: str, tmp_path: Path
) -> tuple[LoadReport, dict, dict[str, int]]:
    """Store the scenario's files in batches of the given sizes; return the summed report,
    the fingerprint, and the number of search hits for some words."""
    digests = []
    for name, body in scenario:
        (tmp_path / name).write_text(body)
        digests.append(read_digest(tmp_path / name))
    engine = make_engine(db_url)
    init_schema(engine)
    Session = session_factory(engine)
    report = LoadReport()
    start = 0
    for size in batches:
        with Session.begin() as session:
            report.merge(store_digests(session, digests[start : start + size]))
        start += size
    with Session() as session:
        got = _fingerprint(session)
        _assert_index_matches_papers(session)
        hits = {word: search_papers(session, word).total for word in ("사라질", "고친", "둘째")}
    engine.dispose()
    return report, got, hits


@pytest.mark.parametrize("batches", [[1, 1, 1, 1, 1, 1], [6], [2, 4], [3, 1, 2]])
def test_storing_files_together_equals_storing_them_in_turn(
    batches: list[int], db_url: str, tmp_path: Path
) -> None:
    report, got, hits = _store_in_batches(SCENARIO, batches, db_url, tmp_path)
    assert hits["사라질"] == 1  # C came back on 2024-01-03
    assert hits["고친"] == 0  # B's last text is its first again
    assert (report.added, report.replaced, report.removed) == (11, 2, 3)
    assert [p[0] for p in got["papers"]] == ["2401.00001", "2401.00002", "2401.00003",
                                             "2401.00004", "2401.00005"]  # fmt: skip
    assert [(str(d), a) for d, a, _p, _v in got["entries"]] == [
        ("2024-01-01", "2401.00005"),
        ("2024-01-01", "2401.00001"),
        ("2024-01-02", "2401.00004"),
        ("2024-01-03", "2401.00003"),
        ("2024-01-04", "2401.00004"),
        ("2024-01-04", "2401.00001"),
        ("2024-01-05", "2401.00002"),
        ("2024-01-05", "2401.00005"),
    ]
    titles = {p[0]: p[1] for p in got["papers"]}
    assert titles["2401.00002"] == "Beta" and ("2401.00002", 1, "dee oh") not in got["authors"]
    assert got == _reference_fingerprint(tmp_path, SCENARIO)


@pytest.mark.parametrize("batches", [[2, 5], [7], [5, 2]])
def test_a_paper_rewritten_and_removed_in_one_batch(
    batches: list[int], db_url: str, tmp_path: Path
) -> None:
    scenario = [*SCENARIO, SCENARIO_END]
    report, got, hits = _store_in_batches(scenario, batches, db_url, tmp_path)
    assert hits["둘째"] == 0
    assert (report.added, report.replaced, report.removed) == (11, 3, 4)
    assert "2401.00002" not in {p[0] for p in got["papers"]}
    assert not any(row[0] == "2401.00002" for row in got["authors"] + got["words"])
    assert got == _reference_fingerprint(tmp_path, scenario)


def _reference_fingerprint(tmp_path: Path, scenario: list[tuple[str, str]]) -> dict:
    """The same files stored one at a time, each in its own transaction."""
    engine = make_engine(f"sqlite:///{tmp_path}/reference.sqlite3")
    init_schema(engine)
    Store = session_factory(engine)
    load_paths(Store, *(tmp_path / name for name, _body in scenario))
    with Store() as session:
        fingerprint = _fingerprint(session)
    engine.dispose()
    return fingerprint


def test_a_file_the_database_refuses_is_rejected_alone(settings: Settings, tmp_path: Path) -> None:
    engine = make_engine(settings.database_url)
    init_schema(engine)
    with engine.begin() as conn:  # a real refusal, from the database itself
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE OR REPLACE FUNCTION refuse_paper() RETURNS trigger AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON paper FOR EACH ROW "
                    "WHEN (NEW.arxiv_id = '2402.00007') EXECUTE FUNCTION refuse_paper()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON paper "
                    "WHEN NEW.arxiv_id = '2402.00007' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
    engine.dispose()
    folder = tmp_path / "digests"
    folder.mkdir()
    for n in range(1, 21):  # enough files for the parse workers and several per batch
        paper = (f"2402.{n:05d}", f"Paper {n}", f"Author {n}", f"요약 {n}번 논문")
        (folder / f"{n:02d}.md").write_text(_day(f"2024-02-{n:02d}", paper))
    out = io.StringIO()
    assert cli.load(settings, [str(folder)], out) == 1
    assert f"rejected: {folder / '07.md'}: database error" in out.getvalue()
    assert "loaded 19 file(s), 19 day(s): 19 paper(s) added" in out.getvalue()
    engine = make_engine(settings.database_url)
    with session_factory(engine)() as session:
        stored = set(session.scalars(select(Paper.arxiv_id)))
        assert len(stored) == 19 and "2402.00007" not in stored
        assert date(2024, 2, 7) not in set(session.scalars(select(DigestDay.day)))
        assert search_papers(session, "요약").total == 19
        _assert_index_matches_papers(session)
    engine.dispose()


def test_loading_writes_from_its_first_read(tmp_path: Path) -> None:
    """On SQLite, the transaction that loads a batch takes the write lock before it reads
    anything, so nothing can change what it read before it writes. (PostgreSQL's
    transactions need no help.)"""
    path = tmp_path / "lock.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    with session_factory(engine)() as session:
        begin_writing(session)
        session.execute(select(Paper.id)).all()
        other = sqlite3.connect(path, timeout=0.1)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("INSERT INTO digest_day VALUES ('2024-01-01', 'x', '2024-01-01')")
        other.close()
        session.rollback()
    engine.dispose()


def test_parse_workers_hand_over_every_file_in_order(tmp_path: Path) -> None:
    files = synthetic_days(tmp_path, 70)
    with loading.parsing(files) as parsed:
        batches = list(parsed)
    sources = [r.source for batch in batches for r in batch]
    assert sources == [str(f) for f in files]
    assert all(0 < len(batch) <= 50 for batch in batches)


# --- loads that never lose a file (faults) ---------------------------------------------------


def test_rejected_files_among_many_never_stop_the_others(settings, tmp_path) -> None:
    """Enough files that the parse workers are used; each kind of rejected file comes back
    from a worker process, is named, and the rest are stored."""
    folder = tmp_path / "archive"
    synthetic_days(folder, 44)
    bad = {
        "2024/2024-01-02-empty.md": b"",
        "2024/2024-01-03-notes.md": "# 메모\n\n논문 없음\n".encode(),
        "2024/00-feb30.md": b"## Daily Papers (2023-02-30)\n### [T](https://arxiv.org/abs/2302.00001)\n- a\n",
        "2024/00-latin1.md": "## Daily Papers (2024-01-01)\n\xe9".encode("latin-1"),
    }
    (folder / "2024").mkdir()
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    out = io.StringIO()
    assert cli.load(settings, [str(folder)], out) == 1
    text = out.getvalue()
    assert "loaded 44 file(s), 44 day(s)" in text
    assert f"rejected: {folder / '2024/2024-01-02-empty.md'}: file is empty" in text
    assert f"rejected: {folder / '2024/2024-01-03-notes.md'}: no paper found" in text
    assert f"rejected: {folder / '2024/00-feb30.md'}:1: impossible date 2023-02-30" in text
    assert f"rejected: {folder / '2024/00-latin1.md'}:2: not UTF-8" in text
    assert "  because: " in text
    with open_store(settings.database_url) as Store, Store() as session:
        assert queries.stats(session).days == 44


def _dying_worker(paths):
    """A parse worker that dies on one file, as the out-of-memory killer would end it."""
    if os.getpid() != _LOADER["pid"] and any(p.name == "zz-2099-12-31-kill.md" for p in paths):
        os._exit(9)
    return [loading._parse(path) for path in paths]


_LOADER = {"pid": 0}  # the loading process (set by the test)


def test_a_parse_worker_that_dies_costs_no_file(settings, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "archive"
    synthetic_days(folder, 24)
    (folder / "zz-2099-12-31-kill.md").write_text("KILL THE WORKER")
    monkeypatch.setitem(_LOADER, "pid", os.getpid())
    monkeypatch.setattr(
        loading, "_parse_chunk", _dying_worker
    )  # parse workers are forked from here
    out = io.StringIO()
    assert cli.load(settings, [str(folder)], out) == 1
    assert "loaded 24 file(s), 24 day(s)" in out.getvalue()
    assert f"rejected: {folder / 'zz-2099-12-31-kill.md'}: no paper found" in out.getvalue()


def test_a_folder_without_digests_is_named(settings, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    out = io.StringIO()
    assert cli.load(settings, [str(tmp_path / "empty")], out) == 1
    assert f"rejected: {tmp_path / 'empty'}: no *.md files in this folder" in out.getvalue()


def test_files_in_a_folder_that_are_plainly_not_digests_are_skipped(settings, tmp_path) -> None:
    # A checkout of the upstream archive: its README and LICENSE beside the days.
    folder = tmp_path / "daily_papers_ko"
    synthetic_days(folder, 2)
    (folder / "README.md").write_text("# Daily Papers in Korean\n\nSummaries of …\n")
    (folder / "LICENSE.md").write_text("Attribution-NonCommercial-NoDerivatives 4.0\n")
    (folder / "2024-13-40.md").write_text("not a digest, but dated\n")  # judged, and said
    out = io.StringIO()
    assert cli.load(settings, [str(folder)], out) == 1
    text = out.getvalue()
    assert "loaded 2 file(s), 2 day(s)" in text
    assert "skipped 2 file(s) that are not digests: LICENSE.md, README.md" in text
    assert (
        f"rejected: {folder / '2024-13-40.md'}" in text and "README" not in text.split("skipped")[0]
    )
    # Named on the command line, a file is always judged as a digest.
    out = io.StringIO()
    assert cli.load(settings, [str(folder / "README.md")], out) == 1
    assert f"rejected: {folder / 'README.md'}" in out.getvalue()


def test_votes_past_what_the_store_holds_cost_nothing(settings, tmp_path) -> None:
    path = tmp_path / "2024-10-14.md"
    path.write_text(
        "## Daily Papers (2024-10-14)\n"
        "### [A](https://arxiv.org/abs/2410.00001)\nVote: 9223372036854775808\n- a\n"
        "### [B](https://arxiv.org/abs/2410.00002)\nVote: ²\n- b\n"
        "### [C](https://arxiv.org/abs/2410.00003)\nVote: 7\n- c\n"
    )
    out = io.StringIO()
    assert cli.load(settings, [str(path)], out) == 0
    assert "loaded 1 file(s), 1 day(s): 3 paper(s) added" in out.getvalue()
    assert f"warning: {path}:3: vote is not a count, stored as none" in out.getvalue()
    assert [r["votes"] for r in export_lines(settings)] == [None, None, 7]


def test_export_into_a_closed_pipe_exits_quietly(seeded, settings) -> None:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "BOT_CONFIG": os.devnull}
    done = subprocess.run(
        f"{sys.executable} -m bot export | head -3",
        shell=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert len(done.stdout.splitlines()) == 3
    assert done.stderr == "", done.stderr


def test_saved_queries_expire(seeded) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select, update

    from bot.store.models import SavedQuery

    with seeded() as session:
        keys = [queries.save_query(session, CallbackKind.SEARCH, f"spam {n}") for n in range(30)]
        session.execute(
            update(SavedQuery)
            .where(SavedQuery.key.in_(keys[:10]))
            .values(used_at=datetime.now(UTC) - timedelta(days=30))
        )
        session.commit()
        assert queries.expire_saved_queries(session, keep=15) == 15
        assert session.scalar(select(func.count()).select_from(SavedQuery)) == 15
        assert queries.saved_query(session, CallbackKind.SEARCH, keys[0]) is None
        assert queries.saved_query(session, CallbackKind.SEARCH, keys[-1]) == "spam 29"


def test_parsed_batches_stay_within_their_size_when_the_workers_are_ahead() -> None:
    """Every chunk parsed before storing asks for it (the workers ahead, as on an idle
    machine): batches are still at most ``_BATCH_FILES`` files (they were 52 and 18)."""
    from collections import deque
    from concurrent.futures import Future

    chunks = [[Path(f"{n}-{i}.md") for i in range(4)] for n in range(18)]
    pending: deque[tuple[Future[list[object]], list[Path]]] = deque()
    for chunk in chunks:
        future: Future[list[object]] = Future()
        future.set_result(list(chunk))
        pending.append((future, chunk))
    batches: list[Any] = list(loading._drain(pending, lambda: None))  # type: ignore[arg-type]
    assert [path for batch in batches for path in batch] == [p for c in chunks for p in c]
    assert all(0 < len(batch) <= loading._BATCH_FILES for batch in batches), list(map(len, batches))
