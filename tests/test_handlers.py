"""Handlers under stress, through the emulator: busy groups, slow searches, buttons pressed
late or under deleted messages, huge days, long ids, uploads, and the help text."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from bot.codec import CallbackKind, callback_data, paper_ref, parse_callback
from bot.handlers.browse import STILL_SEARCHING
from bot.handlers.common import BUSY
from bot.handlers.registry import READING, help_text
from bot.i18n import catalogue
from bot.render import PAGE_HEADER
from bot.store import search as search_module
from bot.updates import FairUpdateProcessor
from tests.helpers.digests import load_paths
from tests.helpers.e2e import (
    GROUP,
    MEMBER,
    OPERATOR,
    USER,
    Conversation,
    add_subscribers,
    all_handled,
    bot_session,
    passes,
)
from tests.helpers.wording import ko, says, starts_with


def on_page(text: str, page: int) -> bool:
    """Whether ``text`` is page ``page`` of the 24 papers ``/search 확산`` finds."""
    return says(text, PAGE_HEADER, title="🔎 확산", count=24, page=page, pages=5)


def test_help_keeps_the_space_between_a_command_and_its_argument() -> None:
    text = help_text(operator=True)
    date, words = ko("[date]"), ko("words")
    assert f"/day {date} — " in text and f"/search {words} — " in text
    assert f"/subscribe {ko('[@channel] [HH:MM]')} — " in text and f"/deliver {date} — " in text
    assert f"/day{date}" not in text and f"/search{words}" not in text


async def test_start_shows_the_arguments_apart(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        start = await Conversation(emulator, USER, USER).ask("/start")
    assert f"/day {ko('[date]')}" in start.text and f"/search {ko('words')}" in start.text


async def test_a_busy_group_never_slows_down_a_private_chat(seeded, settings) -> None:
    """Forty commands in a group answered at its pace (here 60 a minute); a private /start
    meanwhile is answered at once, and the group's excess gets one notice, not a queue."""
    async with bot_session(settings, group_messages_per_minute=60) as (emulator, app):
        for _ in range(40):
            emulator.send(GROUP, MEMBER, "/help")
        await emulator.wait_until(lambda: bool(emulator.messages_in(GROUP)))
        await Conversation(emulator, USER, USER).ask("/start")
        group_answered = len(emulator.messages_in(GROUP))
        await emulator.wait_until(
            lambda: any(
                catalogue("ko").gettext(BUSY) in m.text for m in emulator.messages_in(GROUP)
            ),
            timeout=15,
        )
        processor = app.update_processor
        assert isinstance(processor, FairUpdateProcessor)
        dropped = processor.dropped
    # the group's five accepted commands go one a second: the private chat did not wait
    assert group_answered < 5, f"the private chat waited for {group_answered} group replies"
    assert dropped == 40 - 2 - 3  # two running, three waiting in the group's lane
    assert (
        sum(catalogue("ko").gettext(BUSY) in m.text for m in emulator.messages_in(GROUP)) == 1
    )  # coalesced
    assert emulator.throttled == 0


async def test_slow_searches_never_hold_up_other_chats(seeded, settings, monkeypatch) -> None:
    """Twenty searches the index cannot answer (one syllable), from twenty chats, held
    until the test lets them go: a /paper from another chat is answered while they hang,
    and a second search from a searching chat is told to wait instead of being queued."""
    scanned = search_module._scanned_page
    release = threading.Event()

    def held_scan(*args, **kwargs):
        release.wait(30)
        return scanned(*args, **kwargs)

    searchers = range(20001, 20021)
    async with bot_session(settings) as (emulator, app):
        monkeypatch.setattr(search_module, "_scanned_page", held_scan)
        for chat_id in searchers:
            emulator.private_chat(chat_id)
            emulator.send(chat_id, chat_id, "/search 확")
        await emulator.wait_until(lambda: set(searchers) <= app.services.slow_chats)
        paper = await Conversation(emulator, USER, USER).ask("/paper 2312.02120")
        emulator.send(20001, 20001, "/search 산")
        (second,) = await emulator.replies(20001, 1, timeout=30)
        release.set()
        answered = [(await emulator.replies(chat_id, 1, timeout=30))[0] for chat_id in searchers]
    assert paper.text.startswith("Magicoder")
    assert second.text == catalogue("ko").gettext(STILL_SEARCHING)
    assert all(reply.text.startswith("🔎") for reply in answered)  # each a page of results


async def test_a_button_under_a_deleted_message_shows_the_page_anew(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        results = await chat.ask("/search 확산")
        emulator.delete(USER, results.message_id)
        emulator.press(USER, results.message_id, results.button(ko("Next ▶")), USER)
        (page,) = await emulator.replies(USER)
    assert on_page(page.text, 2)


async def test_a_button_answered_too_late_still_shows_the_page(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        results = await chat.ask("/search 확산")
        emulator.callback_timeout = 0.0  # every answer comes too late
        emulator.press(USER, results.message_id, results.button(ko("Next ▶")), USER)
        (page,) = await emulator.replies(USER)
        emulator.press(USER, results.message_id, results.button("2"), USER)
        (detail,) = await emulator.replies(USER)
    assert on_page(page.text, 2) and results.edits == 0
    assert "확산" in detail.text and detail.text.count("•") >= 3


async def test_a_page_past_the_end_shows_the_last_page(seeded, settings) -> None:
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        results = await chat.ask("/search 확산")
        key = parse_callback(results.button(ko("Next ▶")))
        assert key is not None
        emulator.press(
            USER, results.message_id, callback_data(CallbackKind.SEARCH, key.value, 999), USER
        )
        await emulator.wait_until(lambda: results.edits == 1)
    assert on_page(results.text, 5) and "21. " in results.text


@pytest.mark.parametrize("query", ["확\u200b산", "\u202e확산\u202c", "확\u00ad산", "\ufeff확산"])
async def test_invisible_characters_are_not_searched_for(seeded, settings, query: str) -> None:
    async with bot_session(settings) as (emulator, _app):
        reply = await Conversation(emulator, USER, USER).ask(f"/search {query}")
    assert on_page(reply.text, 1)


def _huge_day(path: Path, papers: int, id_of=lambda i: f"2405.{i:05d}") -> Path:
    lines = ["## Daily Papers (2024-05-01)"]
    for i in range(papers):
        lines += [f"### [Paper {i} " + "t" * 150 + f"](https://arxiv.org/abs/{id_of(i)})"]
        lines += [f"Vote: {papers - i}", f"- 요약 {i}"]
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_a_huge_day_is_capped_in_messages_and_buttons(Store, settings, tmp_path) -> None:
    load_paths(Store, _huge_day(tmp_path / "2024-05-01.md", 600))
    async with bot_session(settings) as (emulator, app):
        chat = Conversation(emulator, USER, USER)
        chat.emulator.send(USER, USER, "/day 2024-05-01")
        await emulator.wait_until(
            lambda: (
                bool(emulator.messages_in(USER)[-1:])
                and bool(emulator.messages_in(USER)[-1].buttons())
            )
        )
        await all_handled(emulator, app)
        sent = emulator.messages_in(USER)
    assert len(sent) <= 2 and not emulator.errors
    assert (
        says(
            sent[-1].text,
            "… and {more} more (the top {shown} by votes are shown)",
            more=570,
            shown=30,
        )
        and len(sent[-1].buttons()) == 30 + 0
    )


async def test_a_paper_with_a_very_long_old_style_id_works_everywhere(
    Store, settings, tmp_path
) -> None:
    long_id = "physics." + "a" * 70 + "/9901001"
    assert len(f"p:{long_id}") > 64
    path = _huge_day(
        tmp_path / "2024-05-01.md", 3, lambda i: long_id if i == 1 else f"2405.{i:05d}"
    )
    load_paths(Store, path)
    async with bot_session(settings, group_messages_per_minute=600) as (emulator, app):
        chat = Conversation(emulator, USER, USER)
        day = await chat.ask("/day 2024-05-01")
        data = day.button("2")
        assert data == f"p:{paper_ref(long_id)}" and len(data.encode()) <= 64
        emulator.press(USER, day.message_id, data, USER)
        (detail,) = await emulator.replies(USER)
        found = await chat.ask("/search Paper")
        add_subscribers(Store, settings, [OPERATOR])
        report = await passes(app).run_pass()
    assert detail.text.startswith("Paper 1 ") and long_id in detail.text
    assert starts_with(found.text, PAGE_HEADER, title="🔎 Paper", count=3)
    assert not emulator.errors
    assert report.delivered_to == [OPERATOR]


@pytest.mark.timing
async def test_an_upload_is_parsed_off_the_event_loop(settings, tmp_path) -> None:
    """A 4 MB digest takes about a second to parse; meanwhile the loop keeps running."""
    data = _huge_day(tmp_path / "big.md", 1).read_bytes()
    filler = "".join(f"- 긴 요약 문장 {n}번입니다, 계속 이어집니다.\n" for n in range(70_000))
    data += filler.encode()
    assert 3_000_000 < len(data) < 5 * 1024 * 1024
    async with bot_session(settings) as (emulator, _app):
        gaps: list[float] = []

        async def tick() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticker = asyncio.ensure_future(tick())
        emulator.send_document(OPERATOR, OPERATOR, "big.md", data, caption="/load")
        (reply,) = await emulator.replies(OPERATOR, timeout=60)
        ticker.cancel()
    assert reply.text.startswith("📥 big.md: 2024-05-01")
    # Parsed on the loop, it stood still for 1.2 s; off it, the longest gap is one C call
    # that holds the GIL (a few tenths on a busy machine).
    assert max(gaps) < 0.6, f"the event loop stood still for {max(gaps):.2f} s"


async def test_an_unknown_command_gets_a_pointer_in_private_and_silence_in_groups(
    seeded, settings
) -> None:
    async with bot_session(settings) as (emulator, _app):
        reply = await Conversation(emulator, USER, USER).ask("/frob now")
        assert says(
            reply.text, "There is no command {command}. The commands: /help", command="/frob"
        )
        group = Conversation(emulator, GROUP, MEMBER)
        emulator.send(GROUP, MEMBER, "/frob")  # another bot's command, perhaps
        emulator.send(GROUP, MEMBER, "/help@DailyPapersBot")
        (answer,) = await emulator.replies(GROUP, 1)
        assert starts_with(answer.text, READING) and not emulator.messages_in(GROUP)[1:]
        assert group.chat_id == GROUP


@pytest.mark.parametrize(
    ("typed", "heading"),
    [
        ("remi munos", "👤 Rémi Munos · "),  # as the papers write the name
        ("MUNOS", "👤 Rémi Munos · "),
        ("juan c perez", "👤 Juan C. Pérez · "),
        ("sun", "👤 sun · "),  # a surname many authors share: as typed
    ],
)
async def test_an_author_is_named_as_the_papers_write_it(
    seeded, settings, typed: str, heading: str
) -> None:
    async with bot_session(settings) as (emulator, _app):
        reply = await Conversation(emulator, USER, USER).ask(f"/author {typed}")
    assert reply.text.startswith(heading), reply.text


def test_every_kind_of_button_has_one_entry_in_the_table() -> None:
    """A kind the table forgot would answer "expired"; one named twice, only its first."""
    from bot.handlers.registry import BUTTON_FOR, BUTTONS

    kinds = [kind for button in BUTTONS for kind in button.kinds]
    assert sorted(kinds) == sorted(CallbackKind) and set(BUTTON_FOR) == set(CallbackKind)
