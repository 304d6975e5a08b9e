"""``python -m bot demo``: the real bot against the local Bot API emulator, offline.

A fresh temporary database gets the seed digests but the newest; a scripted conversation (a
reader in a private chat, a study group with its admin, a member who searches inline and
opens the card's deep link, a visitor whose Telegram speaks English, a channel's admin who
subscribes the channel, an operator who uploads the newest digest, and the follow alert and
digests it brings, then the bot writing a day itself from Hugging Face's daily papers with a
model's Korean summaries) runs through the actual handlers over HTTP, and the chat is
printed as a transcript. No token, no network, no key: Telegram, Hugging Face and the model
are local stand-ins.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import re
import sys
import tempfile
from html import unescape
from pathlib import Path
from typing import TextIO

from bot import cli
from bot.app import running
from bot.config import Settings
from bot.digest import read_digest
from bot.emulator import BotApiEmulator, SentMessage
from bot.emulator.papers import DailyPapersApi, ModelApi
from bot.render import shorten

READER, ADMIN, MEMBER, OPERATOR, VISITOR = 42, 7, 8, 1000, 77
GROUP = -1001234567890
CHANNEL, CHANNEL_NAME = -1009876543210, "ai_papers_ko"
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
HELD_BACK = "2024-04-25.md"
DIGEST = "📰 Daily Papers · 2024-04-25"  # how the held-back day's digest is headed
# The day the bot writes itself: a real day of the archive (shipped with the tests) that the
# daily-papers stand-in lists, and whose Korean points the model stand-in answers with.
WRITTEN = (
    Path(__file__).resolve().parent.parent / "tests" / "corpus" / "days" / "2024" / "09" / "16.md"
)
POINTS = ("What's New", "Technical Details", "Performance Highlights")


_MARKUP_RE = re.compile(r'<a href="([^"]*)">(.*?)</a>|<[^>]+>', re.S)

INTRO = """\
이 화면은 Daily Papers 봇과 사람들이 나누는 대화를 그대로 옮긴 거예요. 진짜 봇이 이
컴퓨터 안의 텔레그램 에뮬레이터(Bot API)와 이야기하며, 토큰도 네트워크도 쓰지 않아요.
👤 사람이 보낸 말, 🤖 봇의 답, [대괄호]는 누를 수 있는 버튼, <주소>는 링크예요.
(This is a transcript: the real bot talking to a local Telegram emulator; no token, no
network. [brackets] are buttons, <…> are links.)
"""


def readable(html: str) -> str:
    """A message's Telegram HTML as a transcript shows it: a link as ``text <url>``."""

    def shown(match: re.Match[str]) -> str:
        url, text = match.group(1, 2)
        return "" if url is None else f"{_MARKUP_RE.sub('', text)} <{url}>"

    return unescape(_MARKUP_RE.sub(shown, html))


class Transcript:
    def __init__(self, emulator: BotApiEmulator, out: TextIO) -> None:
        self.emulator, self.out = emulator, out
        self.names = {
            READER: "민수",
            ADMIN: "지현(관리자)",
            MEMBER: "태호",
            OPERATOR: "운영자",
            VISITOR: "Alex (English)",
        }
        self.shown: set[int] = set()  # bot posts shown by arrival()

    def show(self, message: SentMessage, edited: bool = False) -> None:
        label = "🤖 봇 (메시지 수정)" if edited else "🤖 봇"
        lines = readable(message.html).splitlines() or [""]
        print(f"{label}: {lines[0]}", file=self.out)
        for line in lines[1:]:
            print(f"    {line}", file=self.out)
        buttons = message.buttons()
        if buttons:
            print("    " + " ".join(f"[{text}]" for text, _ in buttons), file=self.out)
        print(file=self.out)

    def heading(self, text: str) -> None:
        print(f"━━━ {text} ━━━\n", file=self.out)

    async def say(
        self, chat_id: int, user_id: int, text: str, replies: int = 1
    ) -> list[SentMessage]:
        print(f"👤 {self.names[user_id]}: {text}\n", file=self.out)
        self.emulator.send(chat_id, user_id, text)
        new = await self.emulator.replies(chat_id, replies)
        for message in new:
            self.show(message)
        return new

    async def upload(self, chat_id: int, user_id: int, path: Path) -> None:
        """Send a file with ``/load`` as its caption, and show the reply."""
        print(f"👤 {self.names[user_id]}: 📎 {path.name} (캡션: /load)\n", file=self.out)
        self.emulator.send_document(chat_id, user_id, path.name, path.read_bytes(), caption="/load")
        for message in await self.emulator.replies(chat_id, 1):
            self.show(message)

    async def arrival(self, chat_id: int, starts: str) -> None:
        """Wait for a message the bot posts on its own (a digest, an alert) and show it
        (and only it: cards users posted in the chat meanwhile were shown already)."""

        def arrived() -> list[SentMessage]:
            return [
                m
                for m in self.emulator.messages_in(chat_id)
                if m.text.startswith(starts) and not m.via_bot and m.message_id not in self.shown
            ]

        await self.emulator.wait_until(lambda: bool(arrived()))
        for message in arrived():
            self.shown.add(message.message_id)
            self.show(message)
        await self.emulator.replies(chat_id, 0)  # everything up to here is seen

    async def inline(self, chat_id: int, user_id: int, query: str) -> SentMessage:
        """Type ``@bot query`` in a chat, see the first results, and pick the first."""
        print(f"👤 {self.names[user_id]}: @DailyPapersBot {query}\n", file=self.out)
        query_id = self.emulator.inline_query(user_id, query)
        await self.emulator.wait_until(lambda: query_id in self.emulator.inline_answers)
        results = self.emulator.inline_answers[query_id]["results"]
        for result in results[:3]:
            description = shorten(result["description"], 70)
            print(f"    🔎 {result['title']}\n       {description}", file=self.out)
        print(f"    … 모두 {len(results)}건\n", file=self.out)
        card = self.emulator.choose_inline(chat_id, user_id, query_id, results[0]["id"])
        print(f"👆 {self.names[user_id]}: 첫 결과를 골라 채팅에 올림 (봇을 통해)\n", file=self.out)
        self.show(card)
        return card

    async def toast(self, chat_id: int, user_id: int, message: SentMessage, label: str) -> None:
        """Press a button that answers with a toast (a notice over the chat, not a message)."""
        print(f"👆 {self.names[user_id]}: [{label}] 버튼\n", file=self.out)
        edits = message.edits
        query = self.emulator.press(chat_id, message.message_id, message.button(label), user_id)
        await self.emulator.wait_until(lambda: query in self.emulator.callback_answers)
        print(f"💬 (알림) {self.emulator.callback_answers[query].get('text', '')}\n", file=self.out)
        with contextlib.suppress(TimeoutError):  # a button that says what it did
            await self.emulator.wait_until(lambda: message.edits > edits, timeout=1.0)
        if message.edits > edits:
            buttons = " ".join(f"[{text}]" for text, _ in message.buttons())
            print(f"🤖 봇 (버튼 수정): {buttons}\n", file=self.out)

    async def open(self, chat_id: int, user_id: int, message: SentMessage, label: str) -> None:
        """Press a button that answers with a new message, and show it."""
        print(f"👆 {self.names[user_id]}: [{label}] 버튼\n", file=self.out)
        self.emulator.press(chat_id, message.message_id, message.button(label), user_id)
        for new in await self.emulator.replies(chat_id, 1):
            self.show(new)

    async def press(self, chat_id: int, user_id: int, message: SentMessage, label: str) -> None:
        print(f"👆 {self.names[user_id]}: [{label}] 버튼\n", file=self.out)
        edits = message.edits
        self.emulator.press(chat_id, message.message_id, message.button(label), user_id)
        await self.emulator.wait_until(lambda: message.edits > edits)
        self.show(message, edited=True)


async def outside_services(
    settings: Settings, folder: str
) -> tuple[Settings, list[DailyPapersApi | ModelApi]]:
    """Hugging Face's daily papers and an OpenAI-compatible model, as local stand-ins (none
    where the day they serve is not there)."""
    if not WRITTEN.exists():
        return settings, []
    (day,) = read_digest(WRITTEN).days
    papers, model = DailyPapersApi(), ModelApi(api_key="sk-demo-stand-in")
    papers.add_day(day)
    for paper in day.papers:
        by_key = {b.key: b.text for b in paper.summary}
        model.known[paper.arxiv_id] = (by_key[POINTS[0]], by_key[POINTS[1]], by_key[POINTS[2]])
    settings = dataclasses.replace(
        settings,
        hf_api_url=await papers.start(),
        llm_base_url=f"{await model.start()}/v1",
        llm_model=model.model,
        llm_api_key=model.api_key,
        write_dir=f"{folder}/paper_logs",
    )
    return settings, [papers, model]


async def conversation(settings: Settings, out: TextIO, folder: str) -> list[str]:
    """Run the conversation; what Telegram refused (nothing, when all is well)."""
    emulator = BotApiEmulator(group_messages_per_minute=settings.group_messages_per_minute)
    url = await emulator.start()
    settings, stand_ins = await outside_services(settings, folder)
    emulator.private_chat(READER, "민수")
    emulator.private_chat(OPERATOR, "운영자")
    emulator.group(GROUP, "논문 읽기 모임", admins=(ADMIN,))
    emulator.private_chat(ADMIN, "지현")
    emulator.private_chat(MEMBER, "태호")
    emulator.private_chat(VISITOR, "Alex")
    emulator.languages[VISITOR] = "en"  # an English Telegram app
    emulator.channel(CHANNEL, "AI 논문 채널", CHANNEL_NAME, admins=(ADMIN,))
    settings = dataclasses.replace(settings, bot_token="0:demo", telegram_api_url=url)
    t = Transcript(emulator, out)
    try:
        async with running(settings, poll_timeout=1):
            t.heading("개인 채팅")
            await t.say(READER, READER, "/start")
            await t.say(READER, READER, "/frob")
            await t.say(READER, READER, "/day latest")
            (results,) = await t.say(READER, READER, "/search 확산")
            await t.press(READER, READER, results, "다음")
            await t.say(READER, READER, "/author remi munos")
            (paper,) = await t.say(READER, READER, "/paper 2312.13286")
            await t.open(READER, READER, paper, "🧭")
            await t.toast(READER, READER, paper, "🔖")
            await t.say(READER, READER, "/saved")
            await t.say(READER, READER, "/top 2024-03")
            await t.say(READER, READER, "/subscribe 08:00")
            await t.say(READER, READER, "/settings top 5")
            await t.say(READER, READER, "/follow Luke Zettlemoyer")
            await t.say(READER, READER, "/watch 확산")
            await t.say(READER, READER, "/following")

            t.heading("그룹 채팅: 논문 읽기 모임")
            await t.say(GROUP, MEMBER, "/subscribe@DailyPapersBot")
            await t.say(GROUP, ADMIN, "/subscribe@DailyPapersBot 09:00")
            await t.say(GROUP, MEMBER, "/search@DailyPapersBot LLM agent")

            t.heading("아무 채팅에서나: 인라인 검색과 딥 링크")
            card = await t.inline(GROUP, MEMBER, "확산 모델")
            link = card.button_of("📄")["url"]
            print(f"👆 태호: [📄 전체 요약 보기] → {link}\n", file=out)
            await t.say(MEMBER, MEMBER, f"/start {link.split('start=', 1)[1]}")

            t.heading("English: a visitor whose Telegram app speaks English")
            await t.say(VISITOR, VISITOR, "/help")
            await t.say(VISITOR, VISITOR, "/search diffusion video")
            await t.say(VISITOR, VISITOR, "/subscribe 07:30")

            t.heading("채널: 관리자가 봇과의 개인 채팅에서 구독")
            await t.say(ADMIN, ADMIN, f"/subscribe @{CHANNEL_NAME}")

            t.heading("운영자: 새 다이제스트 불러오기")
            await t.upload(OPERATOR, OPERATOR, SEEDS / HELD_BACK)
            t.heading("민수의 채팅에 도착한 알림 (다이제스트에 없는 새 논문만)")
            await t.arrival(READER, "🔔")

            t.heading("운영자: 지금 전달")
            await t.say(OPERATOR, OPERATOR, "/deliver", replies=2)
            arrivals = (
                (READER, "민수의 채팅", DIGEST),
                (GROUP, "논문 읽기 모임", DIGEST),
                (CHANNEL, "채널", DIGEST),
                (VISITOR, "Alex의 채팅 (영어)", DIGEST),
            )
            for chat_id, title, starts in arrivals:
                t.heading(f"{title}에 도착한 다이제스트")
                await t.arrival(chat_id, starts)

            if stand_ins:  # (none in an install without the project's tests: an image)
                t.heading("운영자: 봇이 그날의 논문을 직접 작성 (Hugging Face → 한국어 요약)")
                await t.say(OPERATOR, OPERATOR, "/write 2024-09-16", replies=2)
                written = Path(settings.write_dir) / "2024" / "09" / "16.md"
                print(f"📄 {written.name}의 처음 (아카이브와 같은 형식):", file=out)
                for line in written.read_text(encoding="utf-8").splitlines()[:12]:
                    print(f"    {shorten(line, 110)}", file=out)
                print(file=out)
                await t.say(OPERATOR, OPERATOR, "/deliver 2024-09-16", replies=2)
                t.heading("민수의 채팅에 도착한, 봇이 쓴 다이제스트")
                await t.arrival(READER, "📰 Daily Papers · 2024-09-16")
    finally:
        await emulator.stop()
        for stand_in in stand_ins:
            await stand_in.stop()
    refused = [
        f"{m}: {code} {why}" for m, code, why in emulator.errors if "not modified" not in why
    ]
    refused += [f"{emulator.throttled} × 429"] if emulator.throttled else []
    print(
        "다음에 해 볼 것: 웹 아카이브와 미니 앱을 브라우저로 보려면\n"
        "    python -m bot load seeds/ && python -m bot web\n"
        "그리고 http://127.0.0.1:8080/app/ 을 여세요 (토큰 없이, 이 컴퓨터에서만).",
        file=out,
    )
    return refused


def demo(settings: Settings, out: TextIO = sys.stdout) -> int:
    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="daily-papers-demo-") as tmp:
        settings = dataclasses.replace(
            settings,
            database_url=f"sqlite:///{tmp}/demo.sqlite3",
            admin_ids=frozenset({OPERATOR}),
            group_messages_per_minute=600.0,  # the emulator's group is in a hurry
        )
        # The newest seed is held back: the operator uploads it during the conversation.
        first = [str(p) for p in sorted(SEEDS.glob("*.md")) if p.name != HELD_BACK]
        if cli.load(settings, first, io.StringIO(), progress=False) != 0:
            print("the seed digests could not be loaded", file=sys.stderr)
            return 1
        print(INTRO, file=out)
        refused = asyncio.run(conversation(settings, out, tmp))
    if refused:  # the demo is a check too: Telegram refused nothing the bot sent
        print(f"the emulator refused: {'; '.join(refused[:5])}", file=sys.stderr)
        return 1
    return 0
