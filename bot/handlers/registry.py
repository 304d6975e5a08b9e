"""The one table of commands: it drives handler registration, the command menu and /help."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot import render
from bot.arguments import command_args
from bot.handlers import browse, feed, follows, inline, operators, subscriptions
from bot.services import BotContext

Callback = Callable[[Update, BotContext], Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    description: str
    callback: Callback
    operator_only: bool = False


async def start(update: Update, context: BotContext) -> None:
    """``/start``, or ``/start PAYLOAD`` from a deep link (a paper, a day; in a group,
    ``subscribe`` from an ``?startgroup=subscribe`` link)."""
    message, chat = update.effective_message, update.effective_chat
    payload = command_args(message.text if message else None).strip()
    if payload == "subscribe" and chat is not None and chat.type != chat.PRIVATE:
        await subscriptions.introduce(update, context)
        return
    if payload and await browse.open_link(update, context, payload):
        return
    await _send_help(update, context, greeting=True)


async def help_command(update: Update, context: BotContext) -> None:
    await _send_help(update, context, greeting=False)


async def _send_help(update: Update, context: BotContext, greeting: bool) -> None:
    message = update.effective_message
    assert message is not None
    user, chat = update.effective_user, update.effective_chat
    operator = context.services.is_operator(user.id if user else None)
    markup = None
    if greeting and chat is not None and chat.type == chat.PRIVATE:  # invite it to a group
        link = f"https://t.me/{context.bot.username}?startgroup=subscribe"
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("➕ 그룹에 추가하기", url=link)]])
    await message.reply_text(help_text(operator, greeting=greeting), reply_markup=markup)


COMMANDS: tuple[Command, ...] = (
    Command("start", "", "소개와 명령어 목록", start),
    Command("help", "", "명령어 목록", help_command),
    Command("day", "[날짜]", "그날의 논문 (YYYY-MM-DD, today, yesterday, latest)", browse.day),
    Command("search", "검색어", "제목·저자·요약에서 검색", browse.search),
    Command("author", "이름", "저자의 논문 (성만 적어도 됩니다)", browse.author),
    Command("paper", "arXiv-ID", "논문 한 편의 전체 요약", browse.paper),
    Command(
        "top", "[week | month | YYYY-MM]", "추천을 가장 많이 받은 논문 (기본: 최근 7일)", feed.top
    ),
    Command("saved", "[clear]", "🔖 저장한 논문 (개인 채팅)", feed.saved),
    Command(
        "subscribe", "[HH:MM]", "매일 이 채팅으로 논문 받기 (기본 09:00)", subscriptions.subscribe
    ),
    Command("unsubscribe", "", "구독 해지", subscriptions.unsubscribe),
    Command(
        "settings",
        "[time HH:MM | top N | tz Area/City | minvotes N | keywords a, b | every daily|weekly mon]",
        "구독 설정 보기·바꾸기 (every weekly mon: 매주 월요일에 지난 7일 모아 받기)",
        subscriptions.settings,
    ),
    Command("follow", "이름", "저자 팔로우: 새 논문이 나오면 알림", follows.follow),
    Command("unfollow", "이름", "팔로우 그만두기", follows.unfollow),
    Command("following", "", "팔로우하는 저자 목록", follows.following),
    Command("watch", "검색어", "검색어 지켜보기: 맞는 새 논문이 나오면 알림", follows.watch),
    Command("unwatch", "검색어", "검색어 지켜보기 그만두기", follows.unwatch),
    Command("watching", "", "지켜보는 검색어 목록", follows.watching),
    Command(
        "load", "", ".md 다이제스트 불러오기 (캡션 또는 답장)", operators.load, operator_only=True
    ),
    Command("stats", "", "통계", operators.stats, operator_only=True),
    Command("deliver", "[날짜]", "지금 구독 채팅에 전달", operators.deliver, operator_only=True),
)

INTRO = (
    "📚 <b>Daily Papers 봇</b>\n"
    "Hugging Face Daily Papers에서 추천을 많이 받은 AI 논문을 한국어 요약과 함께 전해 드려요. "
    "매일 정해진 시간에 받아 보거나, 지난 논문을 날짜·검색어·저자로 찾아볼 수 있습니다."
)


def help_text(operator: bool = False, greeting: bool = False) -> str:
    lines = [INTRO, ""] if greeting else ["<b>명령어</b>"]
    for command in COMMANDS:
        if command.operator_only and not operator:
            continue
        args = f" {render.esc(command.args)}" if command.args else ""
        mark = " (운영자)" if command.operator_only else ""
        lines.append(f"/{command.name}{args} — {render.esc(command.description)}{mark}")
    return "\n".join(lines)


def menu() -> list[BotCommand]:
    """The command menu everyone sees (operator commands stay out of it)."""
    return [BotCommand(c.name, c.description) for c in COMMANDS if not c.operator_only]


def register(application: Application) -> None:  # type: ignore[type-arg]
    for command in COMMANDS:
        application.add_handler(CommandHandler(command.name, command.callback))
    application.add_handler(CallbackQueryHandler(feed.button, pattern=r"^(t|b|sv|bx):"))
    application.add_handler(CallbackQueryHandler(follows.button, pattern=r"^(fx|wx):"))
    application.add_handler(CallbackQueryHandler(subscriptions.subscribe_button, pattern=r"^sub:$"))
    application.add_handler(CallbackQueryHandler(browse.button))
    application.add_handler(InlineQueryHandler(inline.answer))
    # "/load" as the caption of a document (captions are not commands to CommandHandler).
    load_caption = filters.Document.ALL & filters.CaptionRegex(r"^/load(@\w+)?(\s|$)")
    application.add_handler(MessageHandler(load_caption, operators.load))
    application.add_handler(
        ChatMemberHandler(subscriptions.membership, ChatMemberHandler.MY_CHAT_MEMBER)
    )
