"""``/subscribe``, ``/unsubscribe``, ``/settings``, and the bot being removed from a chat.

In a private chat the user decides. In a group only its administrators (also when posting
anonymously as the group) or an operator may change the subscription.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from telegram import (
    Chat,
    ChatMember,
    ChatMemberAdministrator,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from bot import render
from bot.arguments import (
    WEEKDAY_NAMES,
    UsageError,
    command_args,
    parse_settings_args,
    parse_time_arg,
)
from bot.handlers.common import answer, edit_or_reply
from bot.schedule import ensure_slot_job
from bot.services import BotContext
from bot.store import alerts
from bot.store import subscriptions as subs
from bot.store.models import Every
from bot.store.subscriptions import SubscriptionView

REFUSAL = "이 그룹의 구독은 그룹 관리자만 바꿀 수 있습니다."
NOT_SUBSCRIBED = "이 채팅은 구독 중이 아닙니다. /subscribe 로 시작하세요."
ADMIN_STATUSES = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}


def can_manage(chat: Chat, message: Message, member_status: str | None, is_operator: bool) -> bool:
    """May the sender change this chat's subscription?"""
    if chat.type == Chat.PRIVATE or is_operator:
        return True
    if message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True  # an administrator posting anonymously as the group
    return member_status in ADMIN_STATUSES


async def may_manage(context: BotContext, chat: Chat, user: User | None) -> bool:
    """Is ``user`` an administrator of ``chat`` (or an operator, or is it their private
    chat)? Answers are cached briefly."""
    services = context.services
    if chat.type == Chat.PRIVATE or services.is_operator(user.id if user else None):
        return True
    if user is None:
        return False
    cached = services.admins.get(chat.id, user.id)
    if cached is None:
        try:
            member: ChatMember = await context.bot.get_chat_member(chat.id, user.id)
            cached = member.status in ADMIN_STATUSES
        except TelegramError:
            cached = False
        services.admins.put(chat.id, user.id, cached)
    return cached


async def allowed(update: Update, context: BotContext) -> bool:
    """May the sender of this command change what the chat receives? If not, say so."""
    chat, message, user = update.effective_chat, update.effective_message, update.effective_user
    assert chat is not None and message is not None
    operator = context.services.is_operator(user.id if user else None)
    status = None
    if chat.type != Chat.PRIVATE and not operator and message.sender_chat is None:
        is_admin = await may_manage(context, chat, user)
        status = ChatMemberStatus.ADMINISTRATOR if is_admin else ChatMemberStatus.MEMBER
    if can_manage(chat, message, status, operator):
        return True
    await message.reply_text(render.esc(REFUSAL))
    return False


def describe(sub: SubscriptionView) -> str:
    keywords = ", ".join(sub.keywords) if sub.keywords else "없음"
    if sub.every is Every.WEEKLY:
        when = (
            f"매주 {WEEKDAY_NAMES[sub.weekday]}요일 {sub.send_time} ({sub.timezone}) · 지난 7일의"
        )
    else:
        when = f"매일 {sub.send_time} ({sub.timezone}) ·"
    return render.esc(f"{when} 상위 {sub.top_n}편 · 최소 추천 {sub.min_votes} · 키워드: {keywords}")


@dataclass(frozen=True)
class Target:
    """The chat a subscription command is about: this one, or a channel named in it."""

    id: int
    type: str
    title: str | None
    args: str  # the command's arguments after the channel's name
    channel: str | None = None  # "@name" when it is a channel


CHANNEL_RE = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-100\d{5,16}")
CHANNEL_HERE = "채널은 봇과의 개인 채팅에서 관리해요: /subscribe @채널이름"
CHANNEL_MISSING = "{} 채널을 찾지 못했어요. 봇을 그 채널의 관리자로 추가했는지 확인해 주세요."
NOT_A_CHANNEL = "{}은(는) 채널이 아니에요. 그룹에서는 그 그룹에서 /subscribe 를 보내 주세요."
NOT_CHANNEL_ADMIN = "{} 채널의 관리자만 그 채널의 구독을 바꿀 수 있어요."
BOT_CANNOT_POST = (
    "봇이 {} 채널에 글을 올릴 수 없어요: 봇을 채널 관리자로 추가하고 '메시지 게시' 권한을 주세요."
)


async def target(update: Update, context: BotContext, posting: bool) -> Target | None:
    """This chat, if the sender may manage it; or the channel the arguments name, if the
    sender administers it (and, when ``posting``, the bot may post there). Otherwise the
    sender is told in one line what is missing, and None."""
    chat, message, user = update.effective_chat, update.effective_message, update.effective_user
    assert chat is not None and message is not None
    args = command_args(message.text)
    first, _, rest = args.strip().partition(" ")
    if not CHANNEL_RE.fullmatch(first):
        if not await allowed(update, context):
            return None
        return Target(chat.id, chat.type, chat.title or chat.full_name, args)
    if chat.type != Chat.PRIVATE or user is None:
        await message.reply_text(render.esc(CHANNEL_HERE))
        return None
    bot = context.bot
    try:
        channel = await bot.get_chat(first)
    except TelegramError:
        await message.reply_text(render.esc(CHANNEL_MISSING.format(first)))
        return None
    name = f"@{channel.username}" if channel.username else first
    if channel.type != Chat.CHANNEL:
        await message.reply_text(render.esc(NOT_A_CHANNEL.format(name)))
        return None
    # The bot must be an administrator there: to post, and to see who the others are.
    try:
        member = await bot.get_chat_member(channel.id, bot.id)
    except TelegramError:
        member = None
    can_post = isinstance(member, ChatMemberAdministrator) and member.can_post_messages
    if not isinstance(member, ChatMemberAdministrator) or (posting and not can_post):
        await message.reply_text(render.esc(BOT_CANNOT_POST.format(name)))
        return None
    try:
        sender = (await bot.get_chat_member(channel.id, user.id)).status
    except TelegramError:
        sender = None
    if sender not in ADMIN_STATUSES:
        await message.reply_text(render.esc(NOT_CHANNEL_ADMIN.format(name)))
        return None
    return Target(channel.id, Chat.CHANNEL, channel.title, rest, name)


def subscribed(sub: SubscriptionView, where: str = "") -> str:
    return f"✅ 구독했습니다{where}: {describe(sub)}\n바꾸려면 /settings"


def _where(to: Target) -> str:
    return f" ({render.esc(to.channel)} 채널)" if to.channel else ""


async def subscribe(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None
    to = await target(update, context, posting=True)
    if to is None:
        return
    try:
        at = parse_time_arg(to.args).strftime("%H:%M") if to.args.strip() else None
    except UsageError as exc:
        await message.reply_text(render.esc(f"{exc} 사용법: /subscribe [@채널] [HH:MM]"))
        return
    sub = await context.services.db(
        subs.subscribe, to.id, to.type, to.title, at, context.services.settings
    )
    ensure_slot_job(context.application, sub.slot)
    await message.reply_text(subscribed(sub, _where(to)))


async def unsubscribe(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None
    to = await target(update, context, posting=False)
    if to is None:
        return
    stopped = await context.services.db(subs.unsubscribe, to.id)
    reply = f"구독을 해지했습니다{_where(to)}." if stopped else render.esc(NOT_SUBSCRIBED)
    await message.reply_text(reply)


async def settings(update: Update, context: BotContext) -> None:
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None and message is not None
    first = command_args(message.text).strip().partition(" ")[0]
    if not CHANNEL_RE.fullmatch(first):  # anyone may look at this chat's settings
        try:
            change = parse_settings_args(command_args(message.text))
        except UsageError as exc:
            await message.reply_text(render.esc(str(exc)))
            return
        if change is None:
            sub = await context.services.db(subs.get_subscription, chat.id)
            text = f"⚙️ {describe(sub)}" if sub and sub.active else render.esc(NOT_SUBSCRIBED)
            await message.reply_text(text)
            return
    to = await target(update, context, posting=False)
    if to is None:
        return
    try:
        change = parse_settings_args(to.args)
    except UsageError as exc:
        await message.reply_text(render.esc(str(exc)))
        return
    if change is None:
        sub = await context.services.db(subs.get_subscription, to.id)
        shown = f"⚙️{_where(to)} {describe(sub)}" if sub and sub.active else NOT_SUBSCRIBED
        await message.reply_text(shown if sub and sub.active else render.esc(shown))
        return
    changed = await context.services.db(subs.change_setting, to.id, change)
    if changed is None:
        await message.reply_text(render.esc(NOT_SUBSCRIBED))
        return
    ensure_slot_job(context.application, changed.slot)
    await message.reply_text(f"⚙️ 바꿨습니다{_where(to)}: {describe(changed)}")


INTRO = (
    "👋 안녕하세요, Daily Papers 봇입니다. 매일 추천을 많이 받은 AI 논문을 한국어 요약과 함께 "
    "전해 드려요. 관리자가 아래 버튼을 누르면 매일 09:00에 이 그룹으로 보내 드립니다. "
    "명령어: /help"
)
INTRO_SECONDS = 60.0  # joining by a startgroup link brings two updates: introduce once


async def introduce(update: Update, context: BotContext) -> None:
    """One short introduction in a group the bot was just added to, with a subscribe button
    that only the group's administrators can use."""
    chat = update.effective_chat
    assert chat is not None
    services = context.services
    if services.introduced.get(chat.id, 0.0) > time.monotonic() - INTRO_SECONDS:
        return
    services.introduced[chat.id] = time.monotonic()
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton("🔔 이 그룹 구독하기 (관리자)", callback_data="sub:")]]
    )
    await context.bot.send_message(chat.id, render.esc(INTRO), reply_markup=markup)


async def subscribe_button(update: Update, context: BotContext) -> None:
    """``sub:`` under the introduction: subscribe the group, for an administrator."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    if not await may_manage(context, chat, update.effective_user):
        await answer(query, "그룹 관리자만 구독할 수 있어요.")
        return
    title = chat.title or chat.full_name
    sub = await context.services.db(
        subs.subscribe, chat.id, chat.type, title, None, context.services.settings
    )
    ensure_slot_job(context.application, sub.slot)
    await answer(query, "✅ 구독했습니다.")
    await edit_or_reply(update, [subscribed(sub)], None)


async def membership(update: Update, context: BotContext) -> None:
    """The bot was blocked, kicked or left: stop delivering there. Added to a group: say
    hello once."""
    change = update.my_chat_member
    if change is None:
        return
    if change.new_chat_member.status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
        await context.services.db(subs.deactivate, change.chat.id)
        await context.services.db(alerts.drop_chat, change.chat.id)
        return
    joined = change.old_chat_member.status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
    if joined and change.chat.type in (Chat.GROUP, Chat.SUPERGROUP):
        await introduce(update, context)
