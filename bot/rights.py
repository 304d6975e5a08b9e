"""Who may do what: change a chat's subscription, and act on a button pressed in a chat.

Commands come from their sender; a button press comes from whoever pressed, and its data
from the client (it can be forged). So rights are always the presser's: in a private chat
everything is theirs; in a group, a button acts in the group (posting, or editing the
message it is under) only for whoever asked for that message, or for someone who may
manage the group; everyone else is answered alone (a link that opens the bot in their
private chat, or a notice). In a channel, every press is answered alone: the bot never
posts or edits there for a reader.
"""

from __future__ import annotations

from enum import Enum

from telegram import CallbackQuery, Chat, ChatMember, Message, Update, User
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from bot import render
from bot.i18n import N_, _
from bot.services import BotContext

ADMIN_STATUSES = {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
REFUSAL = N_("Only the group's admins can change its subscription.")


def can_manage(chat: Chat, message: Message, member_status: str | None, is_operator: bool) -> bool:
    """May the sender of ``message`` change this chat's subscription?"""
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


async def may_change(update: Update, context: BotContext) -> bool:
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
    await message.reply_text(render.esc(_(REFUSAL)))
    return False


class Reach(Enum):
    """Where a button press may act."""

    CHAT = "chat"  # in the chat: post there, or edit the message the button is under
    PRESSER = "presser"  # for the presser alone: a link to their private chat, or a notice


def button_reach(chat_type: str | None, asked_by_presser: bool, presser_manages: bool) -> Reach:
    """The rule (see the module docstring). ``chat_type`` is ``None`` for a message posted
    through inline mode, which the bot cannot tell the chat of."""
    if chat_type == Chat.PRIVATE:
        return Reach.CHAT
    if chat_type in (Chat.GROUP, Chat.SUPERGROUP) and (asked_by_presser or presser_manages):
        return Reach.CHAT
    return Reach.PRESSER


def asked_by(message: Message, user: User | None) -> bool:
    """Is ``message`` the bot's answer to something ``user`` sent (a reply to it)?"""
    asked = message.reply_to_message
    if asked is None or user is None:
        return False
    if asked.sender_chat is not None:  # asked anonymously, as the group: its admins did
        return False
    return asked.from_user is not None and asked.from_user.id == user.id


async def reach_of(query: CallbackQuery, context: BotContext) -> Reach:
    """Where this press may act (see :func:`button_reach`); the admin check is made only
    when the answer depends on it."""
    message = query.message
    if not isinstance(message, Message):  # an inline-mode message, or one too old to see
        return Reach.PRESSER
    chat = message.chat
    mine = asked_by(message, query.from_user)
    if button_reach(chat.type, mine, False) is Reach.CHAT or chat.type == Chat.CHANNEL:
        return button_reach(chat.type, mine, False)
    return button_reach(chat.type, mine, await may_manage(context, chat, query.from_user))
