"""Hostile or unlucky input the newer commands meet: names as long as a message, page
buttons past the end, offsets that look like digits, rules of invisible characters. Each
gets a clear answer and nothing stored wrong."""

from __future__ import annotations

from sqlalchemy import select

from bot.store import feed, rules
from bot.store.models import Paper, Rule, RuleKind
from bot.store.rules import Added
from tests.helpers.e2e import USER, Conversation, bot_session
from tests.helpers.wording import says

SOMETHING_WENT_WRONG = "Something went wrong and the bot could not answer. Please try again soon."


async def answers(emulator, user_id: int, query: str, offset: str = "") -> dict:
    query_id = emulator.inline_query(user_id, query, offset)
    await emulator.answered(query_id)
    return emulator.inline_answers[query_id]


async def test_removing_a_name_as_long_as_a_message_answers_in_one_message(Store, settings) -> None:
    long_name = "가" * 4080
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        for command in ("/unfollow", "/unwatch"):
            reply = await chat.ask(f"{command} {long_name}")
            assert len(reply.text) < 400 and "…" in reply.text
            assert not says(reply.text, SOMETHING_WENT_WRONG)


async def test_an_inline_offset_of_other_digits_starts_at_the_first_page(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        for odd in ("²", "١٢", "-5", "1e3", " 20"):
            answer = await answers(emulator, USER, "모델", odd)
            assert len(answer["results"]) == 20 and answer["next_offset"] == "20"


async def test_top_and_saved_pages_past_the_end_show_the_last_page(seeded, settings) -> None:
    with seeded() as session:
        for arxiv_id in session.scalars(select(Paper.arxiv_id).order_by(Paper.id).limit(6)):
            feed.toggle_bookmark(session, USER, arxiv_id)
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        listing = await chat.ask("/saved")
        assert "(1/2)" in listing.text
        emulator.press(USER, listing.message_id, "sv:40", USER)
        await emulator.wait_until(lambda: "(2/2)" in listing.text)
        assert "6." in listing.text
        top = await chat.ask("/top 2024-03")
        pages = int(top.text.split("(1/", 1)[1].split(")", 1)[0])
        emulator.press(USER, top.message_id, "t:2024-03:40", USER)
        await emulator.wait_until(lambda: f"({pages}/{pages})" in top.text)


def test_a_rule_of_invisible_characters_is_no_rule(Store) -> None:
    with Store() as session:
        for kind in (RuleKind.WATCH, RuleKind.FOLLOW):
            for typed in ("\u200b\u200c\u2060", "\ufeff \u200d", "\u00ad"):
                assert rules.add_rule(session, USER, kind, typed) is Added.EMPTY
        assert rules.add_rule(session, USER, RuleKind.WATCH, "확\u200b산") is Added.ADDED
        assert rules.add_rule(session, USER, RuleKind.WATCH, "확산") is Added.KNOWN
        assert [r.text for r in session.query(Rule)] == ["확산"]
