"""Similar papers: the five closest by the words of title and summary, never the paper
itself; from the store, and through the 비슷한 논문 button."""

from __future__ import annotations

import dataclasses
from datetime import date

from sqlalchemy import select, text

from bot.digest import Digest, DigestDay, read_digest
from bot.handlers.browse import NOT_IN_ARCHIVE
from bot.handlers.common import EXPIRED
from bot.store import similar
from bot.store.db import is_postgres
from bot.store.indexing import FIELD_SEPARATOR
from bot.store.ingest import store_digest
from bot.store.models import Paper
from bot.store.similar import _terms, distinctive_terms, similar_papers
from bot.textindex import index_terms
from tests.helpers.digests import SEEDS
from tests.helpers.e2e import USER, Conversation, bot_session
from tests.helpers.wording import says, starts_with

SEED_DAY = SEEDS / "2024-03-19.md"


def words(folded: str) -> set[str]:
    title, _authors, summary = folded.split(FIELD_SEPARATOR)
    return set(index_terms(title).split()) | set(index_terms(summary).split())


def test_similar_papers_share_the_telling_words_and_never_are_the_paper(seeded) -> None:
    with seeded() as session:
        papers = session.execute(select(Paper.arxiv_id, Paper.search_text)).all()
        assert len(papers) > 40
        for arxiv_id, folded in papers:
            found = similar_papers(session, arxiv_id)
            assert len(found) <= 5
            assert arxiv_id not in {p.arxiv_id for p in found}
            assert len({p.arxiv_id for p in found}) == len(found)
            chosen = {term for term, _weight in distinctive_terms(session, folded)}
            for paper in found:
                other = session.scalar(
                    select(Paper.search_text).where(Paper.arxiv_id == paper.arxiv_id)
                )
                assert words(other) & chosen, (arxiv_id, paper.arxiv_id)
        # Most papers of a day about the same things have neighbours.
        assert sum(bool(similar_papers(session, a)) for a, _ in papers) > 0.8 * len(papers)


def test_a_copy_of_a_paper_under_another_id_is_the_closest(seeded) -> None:
    digest = read_digest(SEED_DAY)
    original = digest.days[0].papers[3]
    twin = dataclasses.replace(original, arxiv_id="2501.00001")
    with seeded.begin() as session:
        store_digest(session, Digest("twin.md", [DigestDay(date(2025, 1, 2), [twin])], []))
    with seeded() as session:
        found = similar_papers(session, original.arxiv_id)
        assert found[0].arxiv_id == "2501.00001"
        assert similar_papers(session, "2501.00001")[0].arxiv_id == original.arxiv_id


def test_nothing_to_compare(seeded) -> None:
    with seeded() as session:
        assert similar_papers(session, "9999.99999") == []
    assert not _terms(FIELD_SEPARATOR.join(["", "someone", "— 1 2 3 ."]))


async def test_the_similar_button_lists_five_papers_that_open(seeded, settings) -> None:
    paper_id = read_digest(SEED_DAY).days[0].papers[0].arxiv_id
    with seeded() as session:
        expected = [p.arxiv_id for p in similar_papers(session, paper_id)]
    assert len(expected) == 5
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        shown = await chat.ask(f"/paper {paper_id}")
        assert shown.button_of("🧭")["callback_data"] == f"m:{paper_id}"
        await chat.press(shown, "🧭", new_messages=1)
        listed = emulator.messages_in(USER)[-1]
        assert starts_with(listed.text, "🧭 <b>Similar papers</b>")
        assert [b for b, _data in listed.buttons()] == ["1", "2", "3", "4", "5"]
        assert [data for _b, data in listed.buttons()] == [f"p:{a}" for a in expected]
        for arxiv_id in expected:
            assert f"abs/{arxiv_id}" in listed.html
        await chat.press(listed, "1", new_messages=1)
        assert f"arXiv {expected[0]}" in emulator.messages_in(USER)[-1].text
        # Buttons made up, or for papers the archive does not hold, are refused politely.
        for data, toast in (("m:not-an-id", EXPIRED), ("m:9999.99999", NOT_IN_ARCHIVE)):
            query_id = emulator.press(USER, shown.message_id, data, USER)
            await emulator.answered(query_id)
            assert says(emulator.callback_answers[query_id].get("text") or "", toast)


def test_on_postgresql_common_terms_are_counted_by_the_planner(seeded, monkeypatch) -> None:
    """PostgreSQL's lexeme statistics stand in for counting the common terms, with the same
    answers (the seeds are small enough for ANALYZE to read every row)."""
    with seeded() as session:
        if not is_postgres(session):
            return  # (SQLite counts every term, each count stopped early)
        session.execute(text("ANALYZE paper_fts"))
        session.commit()
        similar._lexeme_stats.clear()
        assert len(similar._common_lexemes(session)) > 100
        ids = session.scalars(select(Paper.arxiv_id).order_by(Paper.id)).all()
        with_statistics = {a: [p.arxiv_id for p in similar_papers(session, a)] for a in ids}
        monkeypatch.setattr(similar, "_common_lexemes", lambda session: {})
        assert with_statistics == {a: [p.arxiv_id for p in similar_papers(session, a)] for a in ids}
