"""``/subscribe``, ``/unsubscribe``, ``/settings``, and the bot being removed from a chat.

In a private chat the user decides. In a group only its administrators (also when posting
anonymously as the group) or an operator may change the subscription.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import Enum

from sqlalchemy.orm import Session
from telegram import (
    Chat,
    ChatMember,
    ChatMemberAdministrator,
    Message,
    Update,
)
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from bot import render
from bot.arguments import UsageError, command_args, parse_settings_args, parse_time_arg
from bot.buttons import subscribe_keyboard
from bot.choices import Setting, SettingChange
from bot.codec import Callback
from bot.config import Settings
from bot.handlers.common import answer, edit_or_reply
from bot.i18n import LANGUAGE_NAMES, N_, _, current, speaking
from bot.rights import ADMIN_STATUSES, may_change
from bot.services import BotContext
from bot.store import languages
from bot.store import subscriptions as subs
from bot.store.slots import SubscriptionView

NOT_SUBSCRIBED = N_("This chat is not subscribed. Start with /subscribe.")


@dataclass(frozen=True)
class CommandChat:
    """The chat a subscription command is about: this one, or a channel named in it."""

    id: int
    type: str
    title: str | None
    args: str  # the command's arguments after the channel's name
    channel: str | None = None  # "@name" when it is a channel


CHANNEL_RE = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,31}|-100\d{5,16}")
CHANNEL_HERE = N_("Channels are managed in a private chat with the bot: /subscribe @channel")
CHANNEL_MISSING = N_("Could not find the channel {name}. Is the bot an admin of that channel?")
NOT_A_CHANNEL = N_("{name} is not a channel. For a group, send /subscribe in that group.")
NOT_CHANNEL_ADMIN = N_("Only admins of the channel {name} can change its subscription.")
BOT_CANNOT_POST = N_(
    "The bot cannot post in {name}: make it an admin of the channel with 'Post messages'."
)


async def target(update: Update, context: BotContext, posting: bool) -> CommandChat | None:
    """This chat, if the sender may manage it; or the channel the arguments name, if the
    sender administers it (and, when ``posting``, the bot may post there). Otherwise the
    sender is told in one line what is missing, and None."""
    chat, message, user = update.effective_chat, update.effective_message, update.effective_user
    assert chat is not None and message is not None
    args = command_args(message.text)
    first, _space, rest = args.strip().partition(" ")
    if not CHANNEL_RE.fullmatch(first):
        if not await may_change(update, context):
            return None
        return CommandChat(chat.id, chat.type, chat.title or chat.full_name, args)
    if chat.type != Chat.PRIVATE or user is None:
        await message.reply_text(render.esc(_(CHANNEL_HERE)))
        return None
    bot = context.bot
    try:
        channel = await bot.get_chat(first)
    except TelegramError:
        await message.reply_text(render.esc(_(CHANNEL_MISSING).format(name=first)))
        return None
    name = f"@{channel.username}" if channel.username else first
    if channel.type != Chat.CHANNEL:
        await message.reply_text(render.esc(_(NOT_A_CHANNEL).format(name=name)))
        return None
    # The bot must be an administrator there: to post, and to see who the others are.
    try:
        member = await bot.get_chat_member(channel.id, bot.id)
    except TelegramError:
        member = None
    can_post = isinstance(member, ChatMemberAdministrator) and member.can_post_messages
    if not isinstance(member, ChatMemberAdministrator) or (posting and not can_post):
        await message.reply_text(render.esc(_(BOT_CANNOT_POST).format(name=name)))
        return None
    try:
        sender = (await bot.get_chat_member(channel.id, user.id)).status
    except TelegramError:
        sender = None
    if sender not in ADMIN_STATUSES:
        await message.reply_text(render.esc(_(NOT_CHANNEL_ADMIN).format(name=name)))
        return None
    return CommandChat(channel.id, Chat.CHANNEL, channel.title, rest, name)


def subscribed(sub: SubscriptionView, to: CommandChat | None = None) -> str:
    command = f"/settings {to.channel}" if to is not None and to.channel else "/settings"
    return _("✅ Subscribed{where}: {settings}\nTo change it: {command}").format(
        where=_where(to), settings=render.subscription_line(sub), command=render.esc(command)
    )


def _where(to: CommandChat | None) -> str:
    if to is None or not to.channel:
        return ""
    return " " + _("(channel {name})").format(name=render.esc(to.channel))


def chat_named(to: CommandChat) -> str:
    """The chat a reply is about, as its subject: this chat, this group, or the channel."""
    if to.channel:
        return _("The channel {name}").format(name=render.esc(to.channel))
    return _("This chat") if to.type == Chat.PRIVATE else _("This group")


def _subscribe(
    session: Session, to: tuple[int, str, str | None], at: str | None, settings: Settings, lang: str
) -> SubscriptionView:
    """Subscribe a chat (id, type, title); its digests speak ``lang``, the subscriber's,
    unless a language was chosen for it."""
    chat_id, chat_type, title = to
    sub = subs.subscribe(session, chat_id, chat_type, title, at, settings)
    languages.remember_subscriber(session, chat_id, lang)
    return sub


async def subscribe(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None
    to = await target(update, context, posting=True)
    if to is None:
        return
    try:
        at = parse_time_arg(to.args).strftime("%H:%M") if to.args.strip() else None
    except UsageError as exc:
        usage = _("Usage: /subscribe [@channel] [HH:MM]")
        await message.reply_text(render.esc(f"{exc} {usage}"))
        return
    chat = (to.id, to.type, to.title)
    sub = await context.services.db(_subscribe, chat, at, context.services.settings, current())
    context.services.watch_slot(sub.slot)
    await message.reply_text(subscribed(sub, to))


async def unsubscribe(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None
    to = await target(update, context, posting=False)
    if to is None:
        return
    stopped = await context.services.db(subs.unsubscribe, to.id)
    if stopped:
        reply = _("Unsubscribed{where}.").format(where=_where(to))
    else:
        reply = render.esc(_(NOT_SUBSCRIBED))
    await message.reply_text(reply)


async def settings(update: Update, context: BotContext) -> None:
    """``/settings [@channel] [change]``: show a chat's settings (anyone may look at this
    chat's), or change one (its managers)."""
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None and message is not None
    args = command_args(message.text)
    to = None  # this chat, until a change needs the right to make it
    if CHANNEL_RE.fullmatch(args.strip().partition(" ")[0]):
        to = await target(update, context, posting=False)
        if to is None:
            return
        args = to.args
    try:
        change = parse_settings_args(args)
    except UsageError as exc:
        await message.reply_text(render.esc(str(exc)))
        return
    if change is None:
        sub = await context.services.db(subs.get_subscription, to.id if to else chat.id)
        if sub and sub.active:
            await message.reply_text(f"⚙️{_where(to)} {render.subscription_line(sub)}")
        else:
            await message.reply_text(render.esc(_(NOT_SUBSCRIBED)))
        return
    if to is None:
        to = await target(update, context, posting=False)
        if to is None:
            return
    if change.field is Setting.LANG:
        return await _choose_language(message, context, to, change)
    changed = await context.services.db(subs.change_setting, to.id, change)
    if changed is None:
        await message.reply_text(render.esc(_(NOT_SUBSCRIBED)))
        return
    context.services.watch_slot(changed.slot)
    reply = _("⚙️ Changed{where}: {settings}")
    await message.reply_text(
        reply.format(where=_where(to), settings=render.subscription_line(changed))
    )


async def _choose_language(
    message: Message, context: BotContext, to: CommandChat, change: SettingChange
) -> None:
    """``/settings lang ko|en``: replies, digests and alerts of the chat speak it (no
    subscription needed); the answer already does."""
    lang = str(change.value)
    await context.services.db(languages.choose, to.id, lang)
    context.services.languages.put(to.id, lang)
    with speaking(lang):
        reply = _("⚙️ {chat} is now answered in {language}.")
        await message.reply_text(reply.format(chat=chat_named(to), language=LANGUAGE_NAMES[lang]))


INTRO = N_(
    "👋 Hello, this is the Daily Papers bot: the most-voted AI papers every day, with Korean "
    "summaries. When an admin presses the button below, they come to this group at 09:00 "
    "every day. Commands: /help"
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
    markup = subscribe_keyboard()
    await context.bot.send_message(chat.id, render.esc(_(INTRO)), reply_markup=markup)


async def subscribe_pressed(update: Update, context: BotContext, pressed: Callback) -> None:
    """``sub:`` under the introduction: subscribe the group."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    title = chat.title or chat.full_name
    group = (chat.id, chat.type, title)
    sub = await context.services.db(_subscribe, group, None, context.services.settings, current())
    context.services.watch_slot(sub.slot)
    await answer(query, _("✅ Subscribed."))
    await edit_or_reply(update, [subscribed(sub)], None)


class Membership(Enum):
    JOINED = "joined"
    GONE = "gone"  # left, removed or blocked


def membership_change(old: ChatMember, new: ChatMember) -> Membership | None:
    """What a change of the bot's own membership means: it is no longer there (whatever it
    was before), it has just come, or neither (its rights changed)."""
    if not _present(new):
        return Membership.GONE
    return None if _present(old) else Membership.JOINED


def _present(member: ChatMember) -> bool:
    if member.status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
        return False
    # Restricted is a member or not (a restriction outlives leaving).
    return bool(getattr(member, "is_member", True))


async def membership(update: Update, context: BotContext) -> None:
    """The bot was blocked, kicked or left: stop delivering there. Added to a group: say
    hello once."""
    change = update.my_chat_member
    if change is None:
        return
    meant = membership_change(change.old_chat_member, change.new_chat_member)
    if meant is Membership.GONE:
        await context.services.db(subs.forget_chat, change.chat.id)
    elif meant is Membership.JOINED and change.chat.type in (Chat.GROUP, Chat.SUPERGROUP):
        await introduce(update, context)
