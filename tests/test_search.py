"""Search over real digests (the whole archive where it exists, else the shipped slice and
the seeds): the index finds exactly what a plain scan finds, ranks title matches first, and
treats every query as text. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
import unicodedata

import pytest
from sqlalchemy import func, select

from bot.store import search as search_module
from bot.store.models import Paper
from bot.store.queries import papers_by_author
from bot.store.search import scan_search, search_papers
from bot.textindex import (
    _FOLD_TABLE,
    RUN_BREAK,
    fold,
    index_terms,
    parse_query,
    term_matches,
)
from tests.helpers.digests import load_paths
from tests.helpers.search import all_found

QUERIES = [
    # Korean, 1 to 4 syllables, inside words
    "확",
    "모",
    "확산",
    "모델",
    "모델은",
    "확산모델",
    "강화학습",
    "언어 모델",
    "비디오 생성",
    "성능을",
    # English words, prefixes, case
    "diffusion",
    "DIFFUSION",
    "diff",
    "transformer",
    "llm",
    "LLMs",
    "gpt-4",
    "3d",
    "mamba",
    "zero-shot",
    # mixed Korean + English, and numbers
    "LLM 추론",
    "diffusion 비디오",
    "GPT-4o",
    "7B",
    "70b 모델",
    "CLIP을",
    # author names
    "Quan Sun",
    "munos",
    "Rémi",
    "Łukasz",
    "hinton",
    # punctuation and query syntax, searched literally
    '"확산"',
    "확산*",
    "-확산",
    "NEAR",
    "AND",
    "OR",
    "%",
    "_",
    "'; DROP TABLE paper; --",
    "(",
    "{title}:",
    "a.b",
    "e2e",
    "x",
    "Q&A",
    "1.5",
    "C++",
]


@pytest.mark.parametrize("query", QUERIES)
def test_index_finds_exactly_what_a_scan_finds(ArchiveStore, query: str) -> None:
    with ArchiveStore() as session:
        found = all_found(session, query)
        assert len(found) == len(set(found))
        assert set(found) == scan_search(session, query)


def test_the_test_set_is_not_trivial(ArchiveStore) -> None:
    with ArchiveStore() as session:
        sizes = {q: len(scan_search(session, q)) for q in QUERIES}
        papers = session.scalar(select(func.count()).select_from(Paper)) or 0
    assert len(QUERIES) >= 30 and papers > 150
    assert sizes["모델"] > papers / 2 and sizes["확산모델"] < sizes["확산"] < sizes["모델"]
    assert sizes["diff"] > sizes["diffusion"] > 0 and sizes["DIFFUSION"] == sizes["diffusion"]
    assert sum(1 for n in sizes.values() if n) >= 25


def test_korean_matches_inside_words(ArchiveStore) -> None:
    with ArchiveStore() as session:
        page = search_papers(session, "모델", 0, 50)
        texts = [fold(" ".join(b.text for b in p.summary) + p.title) for p in page.items]
        assert any("모델은" in t or "모델을" in t for t in texts)
        diffusion = search_papers(session, "확산", 0, 500)
        texts = [fold(" ".join(b.text for b in p.summary)) for p in diffusion.items]
        assert any(re.search("확산[가-힣]", text) for text in texts)


def test_title_matches_rank_first_then_newest(ArchiveStore) -> None:
    with ArchiveStore() as session:
        page = search_papers(session, "diffusion", 0, 400, cap=10**9)
    tiers = []
    for paper in page.items:
        in_title = term_matches("diffusion", fold(paper.title))
        in_authors = term_matches("diffusion", fold(", ".join(paper.authors)))
        tiers.append(0 if in_title else 1 if in_authors else 2)
    assert tiers == sorted(tiers) and tiers[0] == 0 and tiers[-1] == 2
    title_days = [p.day for p, t in zip(page.items, tiers, strict=True) if t == 0]
    assert title_days == sorted(title_days, reverse=True)


def test_every_word_must_match(ArchiveStore) -> None:
    with ArchiveStore() as session:
        both = scan_search(session, "diffusion 비디오")
        assert both == scan_search(session, "diffusion") & scan_search(session, "비디오")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("remi munos", "Nash Learning from Human Feedback"), ("Rémi Munos", None), ("MUNOS", None)],
)
def test_author_names_fold(ArchiveStore, name: str, expected: str | None) -> None:
    with ArchiveStore() as session:
        page = papers_by_author(session, name, 0, 50)
        reference = papers_by_author(session, "munos", 0, 50)
    assert page.total == reference.total >= 1
    if expected:
        assert expected in [p.title for p in page.items]


def test_author_words_must_belong_to_one_author(ArchiveStore) -> None:
    with ArchiveStore() as session:
        quan = papers_by_author(session, "quan", 0, 500).total
        sun = papers_by_author(session, "sun", 0, 500).total
        quan_sun = papers_by_author(session, "quan sun", 0, 500)
        assert 0 < quan_sun.total < min(quan, sun)
        for paper in quan_sun.items:
            assert any({"quan", "sun"} <= set(fold(a).split()) for a in paper.authors)
        assert (
            papers_by_author(session, "Pérez", 0, 5).total
            == papers_by_author(session, "perez", 0, 5).total
            > 0
        )


def test_counting_stops_at_the_cap_but_pages_stay_right(ArchiveStore) -> None:
    with ArchiveStore() as session:
        capped = search_papers(session, "모델", 0, 5, cap=100)
        full = search_papers(session, "모델", 0, 5, cap=10**9)
        assert capped.more and capped.total == 100 and not full.more and full.total > 100
        assert [p.arxiv_id for p in capped.items] == [p.arxiv_id for p in full.items]
        assert capped.has_next
        last = search_papers(session, "모델", 95, 5, cap=100)
        assert not last.has_next and len(last.items) == 5


@pytest.mark.parametrize("query", ["gpt-4", "zero-shot", "LLM을", "3d-aware", "확산 gpt-4"])
def test_streamed_checking_pages_like_the_full_answer(ArchiveStore, query: str) -> None:
    with ArchiveStore() as session:
        full = search_papers(session, query, 0, 10**6, cap=10**9)
        everything = [p.arxiv_id for p in full.items]
        for offset in (0, 5, 35):
            page = search_papers(session, query, offset, 5, cap=40)
            assert [p.arxiv_id for p in page.items] == everything[offset : offset + 5]
            assert page.total == min(len(everything), 40) and page.more == (len(everything) > 40)


def test_queries_are_bounded() -> None:
    terms = parse_query(" ".join(f"w{i}" for i in range(50)))
    assert len(terms) == 8


def test_index_terms_are_syllable_pairs_then_words() -> None:
    assert (
        index_terms("확산모델은 diffusion 모델, gpt4") == "확산 산모 모델 델은 모델 diffusion gpt4"
    )
    assert index_terms("가 나 다") == ""  # a lone syllable is never a query term
    # two runs whose pairs would chain get a break between them
    assert index_terms("확산 산모") == f"확산 {RUN_BREAK} 산모"
    assert index_terms("확산 모델") == "확산 모델"


def test_fold_of_plain_text_is_the_same_as_the_full_fold() -> None:
    plain = [chr(c) for c in [*range(128), *range(0xAC00, 0xD7A4)]]
    assert [unicodedata.normalize("NFC", c).translate(_FOLD_TABLE) for c in plain] == [
        c.lower() for c in plain
    ]
    assert fold("Rémi ŁUKASZ 확산") == "remi lukasz 확산"


def test_a_korean_phrase_never_spans_two_words(Store, tmp_path) -> None:
    (tmp_path / "d.md").write_text(
        "## Daily Papers (2024-01-01)\n\n### [A](https://arxiv.org/abs/2401.00001)\n\n"
        "- 확산 산모 이야기\n\n### [B](https://arxiv.org/abs/2401.00002)\n\n- 확산모델 이야기\n"
    )
    load_paths(Store, tmp_path / "d.md")
    with Store() as session:
        assert all_found(session, "확산모") == ["2401.00002"]
        assert scan_search(session, "확산모") == {"2401.00002"}
        assert sorted(all_found(session, "확산")) == ["2401.00001", "2401.00002"]


def test_a_scan_past_its_time_budget_says_it_is_partial(seeded, monkeypatch) -> None:
    monkeypatch.setattr(search_module, "SCAN_BUDGET", 0.0)
    monkeypatch.setattr(search_module, "SCAN_CHUNK", 10)
    with seeded() as session:
        page = search_module.search_papers(session, "확")
        full = search_module.scan_page(session, "확")
    assert page.partial and not full.partial and page.total < full.total
