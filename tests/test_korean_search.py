"""Korean search that forgives spacing and particles, on the shipped slice and the seeds (or
the whole archive where it is): ``확산모델`` finds what ``확산 모델`` finds, ``모델을`` what
``모델`` finds, the query as typed ranks first, and every surface (the chat, inline, the
app, feeds, ``/watch`` alerts) answers the same. Checked against a truth computed here from
the papers' own text, not from the search's."""

from __future__ import annotations

import re
from datetime import date

import aiohttp
import pytest
from sqlalchemy import select, text, update

from bot.store import alerts, fulltext, rules, search
from bot.store.db import init_schema, make_engine
from bot.store.models import Paper, RuleKind
from bot.store.search import scan_search, search_papers
from bot.textindex import despace, fold, parse_query, typed_phrase, without_particle
from tests.helpers.digests import day_file, load_paths, seed_files, slice_files
from tests.helpers.e2e import USER, Conversation, bot_session, served
from tests.helpers.search import all_found
from tests.helpers.wording import says

JOINED_AND_SPACED = [
    ("확산모델", "확산 모델"),
    ("강화학습", "강화 학습"),
    ("언어모델", "언어 모델"),
    ("대규모언어모델", "대규모 언어 모델"),
    ("대규모언어 모델", "대규모 언어 모델"),
    ("이미지생성", "이미지 생성"),
    ("비디오생성모델", "비디오 생성 모델"),
]
PARTICLE_FORMS = [  # (as typed, what it means, spaced)
    ("모델을", "모델"),
    ("모델은", "모델"),
    ("모델로", "모델"),
    ("모델에서는", "모델"),
    ("확산모델의", "확산 모델"),
    ("강화학습을", "강화 학습"),
    ("LoRA를", "lora"),
    ("transformer는", "transformer"),
]
STEMS = ["데이터", "도메인", "에이전트", "이미지", "비디오"]  # end in no particle: kept whole
ONE_SYLLABLE = ["확", "뇌"]


def truth(session, query: str) -> set[str]:
    """Papers whose title, authors or summary (folded, spaces between Hangul dropped) hold
    every word typed, or that word without its particle: from the papers' own fields."""
    words = fold(query).split()
    found = set()
    for arxiv_id, title, authors, summary in session.execute(
        select(Paper.arxiv_id, Paper.title, Paper.authors, Paper.summary)
    ):
        bullets = [f"{k}: {t}" if k else t for k, t in summary]
        text_ = despace(fold("\n".join([title, ", ".join(authors), *bullets])))
        if all(
            any(_found(v, text_) for v in (word, without_particle(word)) if v is not None)
            for word in words
        ):
            found.add(arxiv_id)
    return found


def _found(word: str, text_: str) -> bool:
    """Korean anywhere, even inside a word; a Latin word or number only where a word starts
    (``llm`` finds ``llms``, not ``mllm``)."""
    if not (word[0].isalnum() and not "\uac00" <= word[0] <= "\ud7a3"):
        return word in text_
    return re.search(rf"(?<![^\W_\uac00-\ud7a3]){re.escape(word)}", text_) is not None


@pytest.mark.parametrize(("joined", "spaced"), JOINED_AND_SPACED)
def test_joined_and_spaced_find_the_same_papers(ArchiveStore, joined: str, spaced: str) -> None:
    with ArchiveStore() as session:
        one, other = all_found(session, joined), all_found(session, spaced)
        assert one and set(one) == set(other), (len(one), len(other))
        assert set(other) == truth(session, spaced)


@pytest.mark.parametrize(("form", "stem"), PARTICLE_FORMS)
def test_a_particle_after_a_term_is_not_required(ArchiveStore, form: str, stem: str) -> None:
    with ArchiveStore() as session:
        assert (
            set(all_found(session, form)) == set(all_found(session, stem)) == truth(session, stem)
        )
        assert all_found(session, form)


@pytest.mark.parametrize("stem", STEMS)
def test_stems_ending_in_particle_syllables_keep_working(ArchiveStore, stem: str) -> None:
    assert without_particle(fold(stem)) is None or stem in ("이미지", "비디오")
    with ArchiveStore() as session:
        found = set(all_found(session, stem))
        assert found == truth(session, stem) and found


@pytest.mark.parametrize("query", [*ONE_SYLLABLE, "LLM 추론", "diffusion 비디오", "70b 모델을"])
def test_one_syllable_and_mixed_queries_agree_with_the_truth(ArchiveStore, query: str) -> None:
    with ArchiveStore() as session:
        assert (
            set(all_found(session, query)) == truth(session, query) == scan_search(session, query)
        )


def test_recall_against_the_truth_over_the_whole_query_set(ArchiveStore) -> None:
    # Each query, and what it means written out word by word.
    meant = dict(JOINED_AND_SPACED + PARTICLE_FORMS) | {s: s for s in STEMS}
    meant |= {spaced: spaced for spaced in dict(JOINED_AND_SPACED).values()}
    queries = list(meant)
    with ArchiveStore() as session:
        wanted = {q: truth(session, meant[q]) for q in queries}
        got = {q: set(all_found(session, q)) for q in queries}
    found = sum(len(got[q] & wanted[q]) for q in queries)
    total = sum(len(wanted[q]) for q in queries)
    extra = sum(len(got[q] - wanted[q]) for q in queries)
    assert total > 500 and found == total and extra == 0  # recall 100%, nothing else


@pytest.mark.parametrize("query", ["확산 모델", "강화 학습", "모델을", "언어 모델을"])
def test_papers_with_the_query_as_typed_come_first(ArchiveStore, query: str) -> None:
    phrase = typed_phrase(parse_query(query))
    assert phrase is not None
    with ArchiveStore() as session:
        ids = all_found(session, query)
        rows = session.execute(
            select(Paper.arxiv_id, Paper.search_text).where(Paper.arxiv_id.in_(ids))
        ).all()
        texts = {arxiv_id: folded for arxiv_id, folded in rows}
    typed = [phrase in texts[i] for i in ids]
    assert any(typed) and not all(typed)
    assert typed == sorted(typed, reverse=True), "a paper with only the parts came first"


@pytest.mark.parametrize("recent", [3, 40, 400])
def test_looking_among_the_newest_rows_first_changes_no_answer(
    ArchiveStore, monkeypatch: pytest.MonkeyPatch, recent: int
) -> None:
    """PostgreSQL looks for the query as typed among the newest rows first: with a few
    rows or many, pages and counts are the same (small caps make the look succeed)."""
    queries = ["확산 모델", "언어 모델을", "강화학습", "대규모 언어 모델", "모델은"]
    with ArchiveStore() as session:

        def answers() -> list[tuple[list[str], int]]:
            pages = [
                search_papers(session, q, offset, 4, cap=9) for q in queries for offset in (0, 4)
            ]
            return [([p.arxiv_id for p in page.items], page.total) for page in pages]

        plain = answers()
        monkeypatch.setattr(fulltext, "RECENT", recent)
        assert answers() == plain


def test_search_input_stays_text_with_particles_and_spacing(ArchiveStore) -> None:
    with ArchiveStore() as session:
        for query in ['"확산"을', "모델*을", "(모델)은", "% 모델을", "OR 모델"]:
            assert set(all_found(session, query)) == scan_search(session, query)


# --- an archive stored before this: upgraded -------------------------------------------------


def test_an_archive_indexed_with_spaces_is_upgraded(Store, db_url) -> None:
    load_paths(Store, *seed_files(), *slice_files())
    with Store() as session:
        before = set(all_found(session, "확산 모델"))
        # As the bot stored it before: spaces kept, and the index made from that.
        rows = session.execute(select(Paper.id, Paper.title, Paper.authors, Paper.summary)).all()
        for paper_id, title, authors, summary in rows:
            bullets = [f"{k}: {t}" if k else t for k, t in summary]
            old = "\x1f".join((fold(title), fold(", ".join(authors)), fold("\n".join(bullets))))
            session.execute(update(Paper).where(Paper.id == paper_id).values(search_text=old))
        session.execute(text("UPDATE alembic_version SET version_num = '0010'"))
        session.execute(text("DROP TABLE hangul_word"))  # the vocabulary came with 0011
        session.commit()
    engine = make_engine(db_url)
    init_schema(engine)
    engine.dispose()
    with Store() as session:
        assert set(all_found(session, "확산모델")) == set(all_found(session, "확산 모델")) == before
        texts = session.scalars(select(Paper.search_text)).all()
        assert texts and not any(re.search("[\uac00-\ud7a3] [\uac00-\ud7a3]", t) for t in texts)


# --- every surface the same ------------------------------------------------------------------


async def test_the_chat_inline_the_app_and_feeds_answer_joined_and_spaced_alike(
    seeded, settings
) -> None:
    load_paths(seeded, *slice_files())
    async with bot_session(served(settings)) as (emulator, app):
        chat = Conversation(emulator, USER, USER)
        joined, spaced = await chat.ask("/search 확산모델"), await chat.ask("/search 확산 모델")
        assert joined.text.split("\n", 1)[1] == spaced.text.split("\n", 1)[1]  # the same papers
        answers = []
        for query in ("확산모델", "확산 모델"):
            query_id = emulator.inline_query(USER, query)
            await emulator.answered(query_id)
            answers.append([r["id"] for r in emulator.inline_answers[query_id]["results"]])
        assert answers[0] and answers[0] == answers[1]
        base = f"http://127.0.0.1:{app.webhook.port}/app"
        async with aiohttp.ClientSession() as http:
            totals, feeds = [], []
            for query in ("확산모델", "확산 모델", "확산모델은"):
                async with http.get(f"{base}/api/search", params={"q": query}) as answer:
                    totals.append((await answer.json())["total"])
                async with http.get(f"{base}/feed/search.atom", params={"q": query}) as answer:
                    feeds.append((await answer.text()).count("<entry>"))
    assert totals[0] == totals[1] == totals[2] > 0 and feeds[0] == feeds[1] == feeds[2] > 0


async def test_nothing_found_says_what_was_searched_and_what_finds_something(
    seeded, settings
) -> None:
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        fewer = await chat.ask("/search 확산 qqqzzz")
        author = await chat.ask("/search qqqzzz munos")
        none = await chat.ask("/search qqqzzz")
    assert says(fewer.text.splitlines()[0], "No papers match '{q}'.", q="확산 qqqzzz")
    assert "/search 확산 (" in fewer.text
    assert says(author.text.splitlines()[0], "No papers match '{q}'.", q="qqqzzz munos")
    assert "/search munos (" in author.text
    assert says(
        none.text.splitlines()[1], "Spacing and particles do not matter; try fewer or other words."
    )


async def test_the_app_and_its_api_suggest_what_finds_something(seeded, settings) -> None:
    async with bot_session(served(settings)) as (_emulator, app):
        base = f"http://127.0.0.1:{app.webhook.port}/app"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/search", params={"q": "확산 qqqzzz"}) as answer:
                fewer = await answer.json()
            async with http.get(f"{base}/api/search", params={"q": "qqqzzz"}) as answer:
                none = await answer.json()
            async with http.get(f"{base}/search", params={"q": "qqqzzz munos"}) as answer:
                page = await answer.text()
    assert fewer["total"] == 0 and fewer["suggestion"]["kind"] == "search"
    assert fewer["suggestion"]["q"] == "확산" and fewer["suggestion"]["total"] > 0
    assert none["total"] == 0 and none["suggestion"] is None
    assert 'href="/app/search?q=munos"' in page or "search?q=munos" in page


def test_a_watch_written_joined_alerts_on_a_paper_written_spaced(seeded, tmp_path) -> None:
    with seeded() as session:
        rules.add_rule(session, USER, RuleKind.WATCH, "강화학습을")
    path = day_file(tmp_path, date(2024, 5, 3), papers=2)
    body = path.read_text(encoding="utf-8").replace(
        "- ", "- 이 논문은 강화 학습 기반의 방법을 다룹니다. ", 1
    )
    path.write_text(body, encoding="utf-8")
    load_paths(seeded, path)
    with seeded() as session:
        alerts.plan_alerts(session)
        planned = alerts.pending_alerts(session, None, 100)
    assert (USER, date(2024, 5, 3)) in planned


def test_search_module_still_answers_the_old_way_for_one_plain_term(ArchiveStore) -> None:
    with ArchiveStore() as session:
        assert set(all_found(session, "모델")) == truth(session, "모델")
        assert search.is_slow("확산모델") is False and search.is_slow("모델을") is False
        assert search.is_slow("LoRA를") is True  # one syllable of it is no index term
