"""The store: loading days, replacing them, authors, export, and the load command."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import cli
from bot.config import Settings
from bot.store import queries
from bot.store.models import AuthorWord, DigestDay, Entry, Paper, PaperAuthor
from tests.conftest import CORPUS, SEEDS, corpus_files, load_paths


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


def test_load_twice_gives_identical_export(settings: Settings) -> None:
    files = [str(p) for p in corpus_files()[:40]] + [str(SEEDS)]
    assert cli.load(settings, files, io.StringIO()) == 0
    first = export_lines(settings)
    out = io.StringIO()
    assert cli.load(settings, files, out) == 0
    assert "0 paper(s) added" in out.getvalue()
    assert export_lines(settings) == first
    assert [row["date"] for row in first] == sorted(row["date"] for row in first)


def test_reloading_a_changed_day_replaces_it(Store, settings: Settings) -> None:
    corpus_day = CORPUS / "2023/12/05.md"
    load_paths(Store, corpus_day)
    before = {r["arxiv_id"]: r for r in export_lines(settings)}
    load_paths(Store, SEEDS / "2023-12-05.md")
    after = {r["arxiv_id"]: r for r in export_lines(settings)}
    assert before.keys() == after.keys()
    changed = [k for k in after if after[k]["summary"] != before[k]["summary"]]
    assert changed, "the seed and the corpus differ in their summaries"
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
    votes = [p.votes for p in papers]
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
