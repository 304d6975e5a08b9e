"""Alerts a chat asks for: ``/follow`` an author, ``/watch`` words, and their lists.

Who may change them is who may change the chat's subscription (in a group, its
administrators); alerts need no subscription. The lists carry a ✕ button per rule, which
only such a person can use.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardMarkup, Update

from bot import render
from bot.arguments import command_args
from bot.buttons import rules_keyboard
from bot.codec import Callback, CallbackKind
from bot.handlers.common import answer, edit_or_reply, reply_blocks
from bot.i18n import N_, _
from bot.rights import may_change
from bot.services import BotContext
from bot.store import rules
from bot.store.models import RuleKind
from bot.store.rules import MAX_RULE_LENGTH, MAX_RULES, Added, RuleView, tidy_rule


@dataclass(frozen=True)
class _Words:
    """What the replies of one kind of rule say."""

    kind: RuleKind
    button: CallbackKind  # the kind of its ✕ buttons
    title: str
    usage: str
    added: str
    known: str
    full: str
    removed: str
    unknown: str


# Each message is formatted with ``rule`` (what was typed) and ``count`` (the most rules).
FOLLOW = _Words(
    RuleKind.FOLLOW,
    CallbackKind.UNFOLLOW,
    N_("👤 Authors followed"),
    N_("Usage: /follow NAME (e.g. /follow Yann LeCun; a surname alone works)"),
    N_("👤 Following: {rule}\nWhen a newly loaded day has a paper by this author, you'll hear."),
    N_("Already following: {rule}"),
    N_("A chat can follow at most {count} authors. Tidy up in /following."),
    N_("No longer following: {rule}"),
    N_("Not a name this chat follows: {rule} (list: /following)"),
)
WATCH = _Words(
    RuleKind.WATCH,
    CallbackKind.UNWATCH,
    N_("🔎 Words watched"),
    N_("Usage: /watch WORDS (e.g. /watch diffusion model)"),
    N_("🔎 Watching: {rule}\nWhen a newly loaded paper matches these words, you'll hear."),
    N_("Already watching: {rule}"),
    N_("A chat can watch at most {count} searches. Tidy up in /watching."),
    N_("No longer watching: {rule}"),
    N_("Not words this chat watches: {rule} (list: /watching)"),
)
BY_BUTTON = {words.button: words for words in (FOLLOW, WATCH)}


async def _add(update: Update, context: BotContext, words: _Words) -> None:
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None and message is not None
    typed = " ".join(command_args(message.text).split())
    if not typed:
        await message.reply_text(render.esc(_(words.usage)))
        return
    if not await may_change(update, context):
        return
    added = await context.services.db(rules.add_rule, chat.id, words.kind, typed)
    reply = {
        Added.ADDED: words.added,
        Added.KNOWN: words.known,
        Added.FULL: words.full,
        Added.EMPTY: words.usage,
    }[added]
    text = _(reply).format(rule=tidy_rule(typed), count=MAX_RULES)  # as it is kept
    await message.reply_text(render.esc(text))


async def _remove(update: Update, context: BotContext, words: _Words) -> None:
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None and message is not None
    typed = " ".join(command_args(message.text).split())
    if not typed:
        await _list(update, context, words)
        return
    if not await may_change(update, context):
        return
    removed = await context.services.db(rules.remove_rule, chat.id, words.kind, typed)
    if removed is None:  # echoed as typed, but never longer than a rule can be
        shown = typed if len(typed) <= MAX_RULE_LENGTH else typed[:MAX_RULE_LENGTH] + "…"
        reply = _(words.unknown).format(rule=shown)
    else:
        reply = _(words.removed).format(rule=removed)
    await message.reply_text(render.esc(reply))


def _view(kept: list[RuleView], words: _Words) -> tuple[list[str], InlineKeyboardMarkup | None]:
    blocks = render.rules_blocks(_(words.title), [r.text for r in kept], _(words.usage))
    return blocks, rules_keyboard(words.button, [(r.id, r.text) for r in kept])


async def _list(update: Update, context: BotContext, words: _Words) -> None:
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None and message is not None
    kept = await context.services.db(rules.chat_rules, chat.id, words.kind)
    blocks, markup = _view(kept, words)
    await reply_blocks(message, blocks, markup)


async def follow(update: Update, context: BotContext) -> None:
    await _add(update, context, FOLLOW)


async def unfollow(update: Update, context: BotContext) -> None:
    await _remove(update, context, FOLLOW)


async def following(update: Update, context: BotContext) -> None:
    await _list(update, context, FOLLOW)


async def watch(update: Update, context: BotContext) -> None:
    await _add(update, context, WATCH)


async def unwatch(update: Update, context: BotContext) -> None:
    await _remove(update, context, WATCH)


async def watching(update: Update, context: BotContext) -> None:
    await _list(update, context, WATCH)


async def remove_pressed(update: Update, context: BotContext, pressed: Callback) -> None:
    """``fx:ID`` / ``wx:ID``: remove that follow or watch of this chat."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    words = BY_BUTTON[pressed.kind]
    db = context.services.db
    removed = await db(rules.remove_rule, chat.id, words.kind, None, int(pressed.value))
    in_time = await answer(query, _("Removed.") if removed is not None else _("Already removed."))
    blocks, markup = _view(await db(rules.chat_rules, chat.id, words.kind), words)
    await edit_or_reply(update, blocks, markup, edit=in_time)
