"""End to end: python-telegram-bot over real HTTP to the Bot API emulator, through the same
``running()`` that ``python -m bot run`` uses, with the seeds (or the corpus) in the store."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import pytest

from bot.emulator.telegram_html import parse_html, utf16_length
from bot.handlers.common import EXPIRED
from bot.handlers.registry import COMMANDS, INTRO, PLAIN_TEXT, READING, help_text, menu
from bot.i18n import catalogue
from bot.render import PAGE_HEADER
from tests.helpers.digests import load_paths
from tests.helpers.e2e import GROUP, MEMBER, USER, Conversation, bot_session
from tests.helpers.wording import ko, read, says, starts_with

NO_DAY = "No digest for {day}. The buttons below lead to the nearest days."
DAY_USAGE = "Usage: /day [YYYY-MM-DD | today | yesterday | latest]"
SEARCH_USAGE = "Usage: /search WORDS (e.g. /search diffusion model, /search 확산 모델)"
PAPER_USAGE = "Usage: /paper arXiv-ID or URL (e.g. /paper 2312.02120)"


@pytest.fixture
async def chat(seeded, settings):
    async with bot_session(settings) as (emulator, _application):
        yield Conversation(emulator, USER, USER)


@pytest.fixture
async def group_chat(seeded, settings):
    async with bot_session(settings) as (emulator, _application):
        yield Conversation(emulator, GROUP, MEMBER)


async def test_start_help_and_menu(chat: Conversation) -> None:
    start = await chat.ask("/start")
    assert starts_with(start.text, INTRO) and "/help" in start.text
    first = [c for c in COMMANDS if c.first]
    assert 3 <= len(first) <= 6 and all(f"/{c.name} " in start.text for c in first)
    assert "/watching" not in start.text  # the few that matter, not a wall of commands
    help_reply = await chat.ask("/help")
    assert not says(help_reply.text, INTRO)
    for command in COMMANDS:
        if not command.operator_only:
            assert f"/{command.name}" in help_reply.text
    assert help_reply.text.count("\n\n") >= 3  # grouped
    for language, shown in (("ko", menu("ko")), ("", menu("en"))):  # Korean; everyone else
        assert chat.emulator.menus[language] == [c.to_dict() for c in shown]


async def test_words_without_a_command_get_a_pointer_in_private_only(
    group_chat: Conversation,
) -> None:
    private = Conversation(group_chat.emulator, USER, USER)
    reply = await private.ask("안녕하세요")
    assert says(reply.text, PLAIN_TEXT)
    # In a group, people talk among themselves: the bot answers the next command only.
    group_chat.emulator.send(GROUP, MEMBER, "안녕하세요")
    answer = await group_chat.ask("/day 2023-12-05")  # the one reply: to the command
    assert "2023-12-05" in answer.text
    assert not any(says(m.text, PLAIN_TEXT) for m in group_chat.emulator.messages_in(GROUP))


async def test_day_latest_default_and_navigation(chat: Conversation) -> None:
    latest = await chat.ask("/day")
    assert latest.text.startswith(f"📰 Daily Papers · 2024-04-25 ({ko('Thu')}) · ")
    assert says(latest.text, "{count} paper", "{count} papers", 9, count=9)
    assert latest.text.index("CatLIP") < latest.text.index("PuLID")  # 9 votes before 8
    assert (await chat.ask("/day latest")).text == latest.text
    await chat.press(latest, "◀ 2024-03-19")
    assert latest.text.startswith("📰 Daily Papers · 2024-03-19")
    assert latest.edits == 1
    await chat.press(latest, "2024-04-25 ▶")
    assert latest.text.startswith("📰 Daily Papers · 2024-04-25")
    # pressing to the same content again is harmless ("message is not modified")
    await chat.press(latest, "1", new_messages=1)
    detail = chat.emulator.messages_in(USER)[-1]
    assert detail.text.startswith("CatLIP: CLIP-level Visual Recognition")


async def test_day_by_date_and_missing_date(chat: Conversation) -> None:
    day = await chat.ask("/day 2023-12-21")
    assert "2023-12-21" in day.text and "StreamDiffusion" in day.text
    missing = await chat.ask("/day 2024-01-01")
    assert starts_with(missing.text, NO_DAY, day="2024-01-01")
    assert {label for label, _ in missing.buttons()} == {"◀ 2023-12-21", "2024-03-11 ▶"}
    today = await chat.ask("/day today")
    assert says(today.text, NO_DAY)


async def test_search_paging_with_buttons(chat: Conversation) -> None:
    first = await chat.ask("/search 확산")
    assert says(
        first.text,
        PAGE_HEADER,
        title="🔎 확산",
        count=24,
        page=1,
        pages=5,
    )
    assert first.text.count("\n\n") == 5
    await chat.press(first, ko("Next ▶"))
    assert (
        says(
            first.text,
            PAGE_HEADER,
            title="🔎 확산",
            count=24,
            page=2,
            pages=5,
        )
        and "6. " in first.text
    )
    await chat.press(first, ko("◀ Previous"))
    assert "(1/5)" in first.text
    await chat.press(first, "2", new_messages=1)
    detail = chat.emulator.messages_in(USER)[-1]
    assert "확산" in detail.text and detail.text.count("•") >= 3


async def test_search_semantics(chat: Conversation) -> None:
    inner = await chat.ask("/search 모델은")
    assert says(inner.text, PAGE_HEADER)
    english = await chat.ask("/search DIFFUSION")
    both = await chat.ask("/search diffusion 비디오")
    assert int(read(both.text, PAGE_HEADER, "count")) < int(
        read(english.text, PAGE_HEADER, "count")
    )
    # the title match ranks first
    assert "Diffusion" in english.text.split("\n\n")[1].split("\n")[0]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "*",
        "-",
        "NEAR",
        "AND",
        "OR NOT",
        "%",
        "_",
        "'; DROP TABLE paper; --",
        "a:b",
        "(",
        "{title}:x",
        "\\",
    ],
)
async def test_query_syntax_is_just_text(chat: Conversation, query: str) -> None:
    reply = await chat.ask(f"/search {query}")
    assert reply.text.startswith("🔎") or says(reply.text, "No papers match '{q}'.", q=query)
    assert not chat.emulator.errors


async def test_author_lookup(chat: Conversation) -> None:
    reply = await chat.ask("/author remi munos")
    assert "Nash Learning from Human Feedback" in reply.text
    upper = await chat.ask("/author MUNOS")
    assert upper.text.split("\n", 1)[1] == reply.text.split("\n", 1)[1]
    none = await chat.ask("/author Quan Munos")  # words from two different people
    assert says(none.text, "No papers by '{q}' were found.")


async def test_paper_by_id_and_url(chat: Conversation) -> None:
    reply = await chat.ask("/paper https://arxiv.org/abs/2312.13286v1")
    assert reply.text.startswith("Generative Multimodal Models are In-Context Learners")
    assert "👍 19" in reply.text and says(reply.text, "🎬 Video")
    names = "Quan Sun, Yufeng Cui, Xiaosong Zhang, Fan Zhang, Qiying Yu"
    assert says(reply.text, "{names} and {count} more", names=names, count=6)


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        ("/day 2024-13-45", DAY_USAGE),
        ("/day someday", DAY_USAGE),
        ("/search", SEARCH_USAGE),
        ("/search    ", SEARCH_USAGE),
        ("/search " + "가" * 201, "The search is too long (at most {count} characters)."),
        ("/author", "Usage: /author NAME (e.g. /author Rémi Munos, or a surname: /author munos)"),
        ("/paper", PAPER_USAGE),
        ("/paper hello", PAPER_USAGE),
        ("/paper 9999.99999", "{id} is not in the archive."),
        ("/author Nobody Atall", "No papers by '{q}' were found."),
    ],
)
async def test_bad_arguments_get_a_one_line_hint(
    chat: Conversation, command: str, hint: str
) -> None:
    reply = await chat.ask(command)
    assert says(reply.text, hint) and "\n" not in reply.text and "Traceback" not in reply.text


async def test_forged_and_stale_buttons_are_refused(chat: Conversation) -> None:
    page = await chat.ask("/search 확산")
    emulator = chat.emulator
    for data in ["s:000000000000:0", "p:../../x", "d:2024-02-30", "garbage", "a:ffffffffffff:1"]:
        query_id = emulator.press(USER, page.message_id, data, USER)
        await emulator.answered(query_id)
    answered = [a.get("text") for a in emulator.callback_answers.values()]
    assert answered.count(catalogue("ko").gettext(EXPIRED)) >= 3
    assert page.edits == 0 and not emulator.errors


async def test_commands_in_a_group_with_the_bot_name(group_chat: Conversation) -> None:
    day = await group_chat.ask("/day@DailyPapersBot 2023-12-05")
    assert "2023-12-05" in day.text
    results = await group_chat.ask("/search@DailyPapersBot 확산")
    assert starts_with(results.text, PAGE_HEADER, title="🔎 확산")
    await group_chat.press(results, ko("Next ▶"))
    assert "(2/5)" in results.text
    paper = await group_chat.ask("/paper@DailyPapersBot 2312.02120")
    assert paper.text.startswith("Magicoder")
    author = await group_chat.ask("/author@DailyPapersBot munos")
    assert "Nash Learning" in author.text
    assert starts_with((await group_chat.ask("/help@DailyPapersBot")).text, READING)
    # a command for another bot is not ours
    group_chat.emulator.send(GROUP, MEMBER, "/day@SomeOtherBot")
    reply = await group_chat.ask("/start@DailyPapersBot")
    assert starts_with(reply.text, INTRO)


async def test_long_reply_is_split_and_hostile_titles_are_safe(
    Store, settings, tmp_path: Path
) -> None:
    hostile = "<b>Bold</b> & $x^2$ *star* `tick` </a>"
    lines = ["## Daily Papers (2024-05-01)", ""]
    for i in range(45):
        title = (
            hostile if i == 0 else f"Paper number {i} with a deliberately long title " + "x" * 60
        )
        lines += [
            f"### [{title}](https://arxiv.org/abs/2405.{i:05d})",
            "",
            f"Vote: {100 - i}",
            "",
            "Authors: " + ", ".join(f"Author {j}" for j in range(30)),
            "",
        ]
        lines += [f"- **Key {k}**: " + "긴 요약 문장입니다. " * 120 for k in range(4)] + [""]
    (tmp_path / "long.md").write_text("\n".join(lines))
    load_paths(Store, tmp_path / "long.md")
    async with bot_session(settings) as (emulator, _app):
        chat = Conversation(emulator, USER, USER)
        parts = await chat.say("/day 2024-05-01", count=2)  # titles and Korean points
        assert all(utf16_length(parse_html(m.html)) <= 4096 for m in parts)
        assert hostile in parts[0].text
        assert says(
            parts[-1].text,
            "… and {more} more (the top {shown} by votes are shown)",
            more=15,
            shown=30,
        )
        assert len(parts[-1].buttons()) == 30
        detail = await chat.say("/paper 2405.00000", count=2)
        assert hostile in detail[0].text
        assert all(utf16_length(m.text) <= 4096 for m in detail)
        assert not emulator.errors


def test_every_command_is_registered_in_the_menu_and_in_help(settings) -> None:
    from sqlalchemy.orm import sessionmaker
    from telegram.ext import CommandHandler

    from bot.app import build_application
    from bot.services import Services

    application = build_application(
        dataclasses.replace(settings, bot_token="1:x"), Services(settings, sessionmaker())
    )
    registered = {
        name
        for handlers in application.handlers.values()
        for handler in handlers
        if isinstance(handler, CommandHandler)
        for name in handler.commands
    }
    names = {c.name for c in COMMANDS}
    assert registered == names
    public = {c.name for c in COMMANDS if not c.operator_only}
    assert {c.command for c in menu("ko")} == {c.command for c in menu("en")} == public
    assert all(f"/{name}" in help_text(operator=True) for name in names)
    assert all(f"/{name}" in help_text(operator=False) for name in public)
    assert all(len(c.description) <= 256 and c.name.islower() for c in COMMANDS)


def test_the_demo_shows_alerts_bookmarks_top_inline_links_and_a_channel(settings) -> None:
    """``python -m bot demo`` as a newcomer runs it (in this process, on its own database)."""
    from bot.demo import demo

    out = io.StringIO()
    assert demo(settings, out) == 0
    transcript = out.getvalue()
    assert "💬 (알림) 🔖 저장했어요" in transcript and "🔖 저장한 논문" in transcript
    assert "🏆 2024-03" in transcript
    alert = transcript[transcript.index("🤖 봇: 🔔 새 논문 알림") :]
    assert "MoDE: CLIP Data Experts" in alert.split("━━━")[0]
    assert "👤 Luke Zettlemoyer" in alert.split("━━━")[0]
    assert "👤 태호: @DailyPapersBot 확산 모델" in transcript  # inline, then its deep link
    assert "/start p_2403_12015" in transcript and "[🔖 저장] [↗ 공유]" in transcript
    channel = transcript[transcript.index("━━━ 채널에 도착한 다이제스트") :]
    assert "📰 Daily Papers · 2024-04-25" in channel
    written = section(transcript, "운영자: 봇이 그날의 논문을 직접 작성")
    assert "논문 7편 · 한국어 7편 · 영어만 0편 · 모델 요청 7편" in written
    assert "- ***What's New***: " in written and "## Daily Papers (2024-09-16)" in written
    assert "📰 Daily Papers · 2024-09-16" in transcript.split("봇이 쓴 다이제스트")[-1]
    assert transcript.rstrip().endswith(
        "http://127.0.0.1:8080/app/ 을 여세요 (토큰 없이, 이 컴퓨터에서만)."
    )
    assert_well_worded(transcript)


def section(transcript: str, heading: str) -> str:
    start = transcript.index(f"━━━ {heading}")
    end = transcript.find("\n━━━", transcript.index("\n", start))
    return transcript[start : end if end > 0 else None]


def assert_well_worded(transcript: str) -> None:
    """What a reader of the demo must never meet (each was once there)."""
    assert not re.search(r"\((은|는|이|가|을|를|과|와|으)\)", transcript)  # 은(는) and kin
    assert "오늘의" not in transcript and "Today's" not in transcript  # digests go by date
    assert "👤 Rémi Munos · " in transcript  # /author remi munos: as the papers write it
    assert "🤖 봇: 없는 명령이에요: /frob · 명령 목록: /help" in transcript
    assert "/subscribe [@채널] [HH:MM]" in transcript  # /help shows the channel form
    assert "바꾸려면 /settings @ai_papers_ko" in transcript  # the channel's own settings
    assert "🤖 봇 (버튼 수정): [🧭 비슷한 논문] [✅ 저장됨 · 누르면 취소]" in transcript
    for line in transcript.splitlines():  # inline descriptions: whole, or cut with "…"
        if line.startswith("       ") and "· 👍" in line:
            assert len(line.strip()) < 69 or line.endswith("…"), line
    group_digest = section(transcript, "논문 읽기 모임에 도착한 다이제스트")
    assert group_digest.count("🤖 봇:") == 1  # the digest alone, not the card posted before
    delivered = next(line for line in transcript.splitlines() if "📤 전달 완료" in line)
    assert " 0곳" not in delivered and "이전" not in delivered  # counters that happened
