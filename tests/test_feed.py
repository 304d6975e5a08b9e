"""The research feed through the emulator: /top of a window with paging, and bookmarks
(🔖 under a paper, /saved, removing, clearing; per user, in groups as a toast)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.arguments import UsageError, parse_top_arg
from bot.render import PAGE_HEADER
from bot.store import feed
from bot.store.models import Entry
from tests.helpers.digests import load_paths
from tests.helpers.e2e import GROUP, MEMBER, USER, Conversation, bot_session
from tests.helpers.wording import ko, says, starts_with


@pytest.mark.parametrize(
    "text, first, last",
    [
        ("", date(2024, 4, 19), date(2024, 4, 25)),
        ("week", date(2024, 4, 19), date(2024, 4, 25)),
        ("month", date(2024, 3, 27), date(2024, 4, 25)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2023-12", date(2023, 12, 1), date(2023, 12, 31)),
    ],
)
def test_top_windows(text: str, first: date, last: date) -> None:
    window = parse_top_arg(text, date(2024, 4, 25))
    assert (window.first, window.last) == (first, last)


@pytest.mark.parametrize("text", ["year", "2024-13", "2024-00", "24-03", "2024-03-01"])
def test_top_refuses_other_windows(text: str) -> None:
    with pytest.raises(UsageError):
        parse_top_arg(text, date(2024, 4, 25))


def test_a_paper_counts_once_with_its_best_vote(Store, tmp_path: Path) -> None:
    for day, votes in (("2024-05-01", 3), ("2024-05-02", 40), ("2024-05-03", 7)):
        (tmp_path / f"{day}.md").write_text(
            f"## Daily Papers ({day})\n"
            f"### [Shared](https://arxiv.org/abs/2405.00001)\nVote: {votes}\n- a\n"
            f"### [Other {day}](https://arxiv.org/abs/2405.1{day[-2:]}00)\nVote: 10\n- b\n"
        )
    load_paths(Store, *sorted(tmp_path.glob("*.md")))
    with Store() as session:
        page = feed.top_in_window(session, date(2024, 5, 1), date(2024, 5, 3), 0, 10)
    assert [(p.title, p.votes) for p in page.items][:2] == [
        ("Shared", 40),
        ("Other 2024-05-03", 10),
    ]
    assert page.total == 4


async def test_top_pages_through_a_month(seeded, settings) -> None:
    with seeded() as session:
        march = session.scalar(
            select(func.count(func.distinct(Entry.paper_id))).where(
                Entry.day >= date(2024, 3, 1), Entry.day <= date(2024, 3, 31)
            )
        )
    assert march > 10
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        week = await chat.ask("/top")
        assert says(week.text, PAGE_HEADER, count=9, page=1, pages=1)
        assert "2024-04-19 … 2024-04-25" in week.text
        assert week.text.index("CatLIP") < week.text.index("PuLID")  # 9 votes before 8
        first = await chat.ask("/top 2024-03")
        pages = -(-march // 10)
        assert says(
            first.text,
            PAGE_HEADER,
            title="🏆 2024-03",
            count=march,
            page=1,
            pages=pages,
        )
        await chat.press(first, ko("Next ▶"))
        assert f"(2/{pages})" in first.text and "11. " in first.text
        empty = await chat.ask("/top 2023-01")
        assert says(
            empty.text,
            "No digest is loaded for {first} … {last}. Loaded days: {oldest} … {newest} ({days})",
            oldest="2023-12-05",
            newest="2024-04-25",
        )
        hint = await chat.ask("/top year")
        assert (
            starts_with(
                hint.text, "Usage: /top [week | month | YYYY-MM] (e.g. /top month, /top 2024-03)"
            )
            and "\n" not in hint.text
        )


async def shown(chat: Conversation, arxiv_id: str):
    """``/paper ID``, and the message of it that carries the 🔖 button (the last one)."""
    emulator = chat.emulator
    before = len(emulator.messages_in(chat.chat_id))

    def with_button() -> list:
        new = emulator.messages_in(chat.chat_id)[before:]
        return [m for m in new if any(data.startswith("b:") for _label, data in m.buttons())]

    emulator.send(chat.chat_id, chat.user_id, f"/paper {arxiv_id}")
    await emulator.wait_until(lambda: bool(with_button()))
    await emulator.replies(chat.chat_id, 0)  # all seen
    return with_button()[0]


def save_label(message) -> str:
    return next(label for label, data in message.buttons() if data.startswith("b:"))


async def test_bookmarks_are_per_user_and_private(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        reader = Conversation(emulator, USER, USER)
        detail = await shown(reader, "2312.02120")
        assert save_label(detail) == ko("🔖 Save")  # the reader's own state, in a private chat
        query = emulator.press(USER, detail.message_id, detail.button("🔖"), USER)
        await emulator.answered(query)
        assert starts_with(emulator.callback_answers[query]["text"], "🔖 Saved. See it in /saved.")
        await emulator.wait_until(lambda: save_label(detail) == ko("✅ Saved (press to unsave)"))
        assert save_label(await shown(reader, "2312.02120")) == ko("✅ Saved (press to unsave)")

        # in a group: the member's own bookmark, answered with a toast, nothing in the group
        group = Conversation(emulator, GROUP, MEMBER)
        in_group = await shown(group, "2312.00845")
        assert save_label(in_group) == ko("🔖 Save / unsave")  # many read it: for whoever presses
        sent_before = len(emulator.messages_in(GROUP))
        query = emulator.press(GROUP, in_group.message_id, in_group.button("🔖"), MEMBER)
        await emulator.answered(query)
        assert starts_with(emulator.callback_answers[query]["text"], "🔖 Saved. See it in /saved.")
        assert len(emulator.messages_in(GROUP)) == sent_before
        assert starts_with(
            (await group.ask("/saved")).text,
            "Saved papers are in your private chat with the bot: /saved",
        )

        mine = await reader.ask("/saved")
        assert says(mine.text, PAGE_HEADER, count=1, page=1, pages=1) and "Magicoder" in mine.text
        emulator.private_chat(MEMBER)
        theirs = await Conversation(emulator, MEMBER, MEMBER).ask("/saved")
        assert says(theirs.text, PAGE_HEADER, count=1) and "Magicoder" not in theirs.text

        # pressing it again unsaves; removing from the list; clearing
        query = emulator.press(USER, detail.message_id, detail.button(ko("✅ Saved")), USER)
        await emulator.answered(query)
        assert emulator.callback_answers[query]["text"] == ko("No longer saved.")
        await emulator.wait_until(lambda: save_label(detail) == ko("🔖 Save"))
        for arxiv_id in ("2312.02120", "2312.00845", "2312.13286"):
            view = await shown(reader, arxiv_id)
            query = emulator.press(USER, view.message_id, view.button("🔖"), USER)
            await emulator.answered(query)
        listing = await reader.ask("/saved")
        assert says(listing.text, PAGE_HEADER, count=3)
        opened = [data for label, data in listing.buttons() if data.startswith("p:")]
        assert opened == ["p:2312.13286", "p:2312.00845", "p:2312.02120"]  # newest first
        await reader.press(listing, "✕ 1")
        assert (
            says(listing.text, PAGE_HEADER, count=2)
            and "p:2312.13286" not in dict(listing.buttons()).values()
        )
        cleared = await reader.ask("/saved clear")
        assert cleared.text == ko(
            "Removed your {count} saved paper.",
            "Removed all {count} of your saved papers.",
            2,
            count=2,
        )
        assert starts_with(
            (await reader.ask("/saved")).text,
            "🔖 No saved papers yet. Save one with the 🔖 button under a paper.",
        )

        # a forged button for a paper that does not exist
        query = emulator.press(USER, listing.message_id, "b:2499.99999", USER)
        await emulator.answered(query)
        assert emulator.callback_answers[query]["text"] == ko("This paper is not in the archive.")


async def test_a_full_shelf_of_bookmarks_says_so(seeded, settings, monkeypatch) -> None:
    """The cap (MAX_BOOKMARKS a user, 1,000) is named when it is met, not a vague refusal."""
    monkeypatch.setattr(feed, "MAX_BOOKMARKS", 3)
    with seeded() as session:
        for arxiv_id in ("2312.02120", "2312.00845", "2312.13286"):
            assert feed.toggle_bookmark(session, USER, arxiv_id)[0] is feed.Toggled.SAVED
        assert feed.toggle_bookmark(session, USER, "2403.12015")[0] is feed.Toggled.FULL
    async with bot_session(settings) as (emulator, _app):
        view = await shown(Conversation(emulator, USER, USER), "2403.12015")
        query = emulator.press(USER, view.message_id, view.button("🔖"), USER)
        await emulator.answered(query)
    assert emulator.callback_answers[query]["text"] == ko(
        "You have {count} saved papers, the most there can be. Remove some in /saved.", count=3
    )
