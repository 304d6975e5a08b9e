"""The research feed: ``/top`` of a week, a month or a calendar month, and bookmarks
(the 🔖 button under a paper, ``/saved``)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from telegram import Chat, Update
from telegram.error import TelegramError

from bot import render
from bot.arguments import UsageError, command_args, parse_top_arg, wants_clearing
from bot.buttons import paper_keyboard, results_keyboard, saved_keyboard
from bot.codec import Callback, CallbackKind
from bot.handlers.common import (
    EXPIRED,
    NOTHING_LOADED,
    answer,
    edit_or_reply,
    reply_blocks,
)
from bot.i18n import N_, _, ngettext
from bot.services import BotContext
from bot.store import feed, queries
from bot.store.feed import Toggled
from bot.store.queries import Page

TOGGLED = {
    Toggled.SAVED: N_("🔖 Saved. See it in /saved."),
    Toggled.UNSAVED: N_("No longer saved."),
    Toggled.MISSING: N_("This paper is not in the archive."),
    Toggled.FULL: N_(
        "You have {count} saved papers, the most there can be. Remove some in /saved."
    ),
}
TOP_PAGE = 10
SAVED_PAGE = 5
PRIVATE_ONLY = N_("Saved papers are in your private chat with the bot: /saved")


async def top(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None
    newest = await context.services.db(queries.latest_day)
    if newest is None:
        await message.reply_text(_(NOTHING_LOADED))
        return
    try:
        window = parse_top_arg(command_args(message.text), newest)
    except UsageError as exc:
        await message.reply_text(render.esc(str(exc)))
        return
    page = await context.services.db(feed.top_in_window, window.first, window.last, 0, TOP_PAGE)
    if not page.total:
        stats = await context.services.db(queries.stats)
        await message.reply_text(render.esc(render.empty_window(window, stats)))
        return
    await reply_blocks(
        message,
        render.top_blocks(window, page),
        results_keyboard(CallbackKind.TOP, window.key, page),
    )


async def saved(update: Update, context: BotContext) -> None:
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    assert message is not None and chat is not None
    if chat.type != Chat.PRIVATE or user is None:
        await message.reply_text(render.esc(_(PRIVATE_ONLY)))
        return
    if wants_clearing(command_args(message.text)):
        gone = await context.services.db(feed.clear_bookmarks, user.id)
        cleared = ngettext(
            "Removed your {count} saved paper.", "Removed all {count} of your saved papers.", gone
        )
        await message.reply_text(render.esc(cleared.format(count=gone)))
        return
    page = await context.services.db(feed.bookmarks, user.id, 0, SAVED_PAGE)
    await reply_blocks(message, render.saved_blocks(page), saved_keyboard(page))


async def _within(fetch: Callable[[int], Awaitable[Page]], offset: int, size: int) -> Page:
    """The page at ``offset``, or the last page when that is past the end (its last item
    removed meanwhile, or a button from when the list was longer)."""
    page = await fetch(offset)
    if not page.items and page.total:
        page = await fetch((page.total - 1) // size * size)
    return page


async def bookmark_pressed(update: Update, context: BotContext, pressed: Callback) -> None:
    """``b`` (🔖): save or unsave, for the presser, wherever the button is: the presser is
    who the data is about, so a forged button can only ever touch their own bookmarks."""
    query, user = update.callback_query, update.effective_user
    assert query is not None and user is not None
    db = context.services.db
    toggled, arxiv_id = await db(feed.toggle_bookmark, user.id, pressed.value)
    await answer(query, _(TOGGLED[toggled]).format(count=feed.MAX_BOOKMARKS))
    private = update.effective_chat is not None and update.effective_chat.type == Chat.PRIVATE
    if private and arxiv_id and toggled in (Toggled.SAVED, Toggled.UNSAVED):
        saved = toggled is Toggled.SAVED  # the button says so now
        paper = await db(queries.get_paper, arxiv_id)
        if paper is None:
            return
        cite = render.citation_to_copy(paper)
        keys = paper_keyboard(paper, cite, saved, context.services.settings.webapp_url)
        with contextlib.suppress(TelegramError):  # a message gone or changed meanwhile
            await query.edit_message_reply_markup(keys)


async def page_pressed(update: Update, context: BotContext, pressed: Callback) -> None:
    """``t`` (a page of /top), ``sv`` (a page of /saved), ``bx`` (remove one bookmark, and
    show that page of /saved)."""
    query, user = update.callback_query, update.effective_user
    assert query is not None and user is not None
    db = context.services.db
    if pressed.kind is CallbackKind.TOP:
        newest = await db(queries.latest_day)
        if newest is None:
            await answer(query, _(EXPIRED))
            return
        window = parse_top_arg(pressed.value, newest)  # "w", "m" or a month: checked above
        page = await _within(
            lambda at: db(feed.top_in_window, window.first, window.last, at, TOP_PAGE),
            pressed.page * TOP_PAGE,
            TOP_PAGE,
        )
        in_time = await answer(query)
        await edit_or_reply(
            update,
            render.top_blocks(window, page),
            results_keyboard(CallbackKind.TOP, window.key, page),
            edit=in_time,
        )
        return
    if pressed.kind is CallbackKind.UNSAVE:
        await db(feed.remove_bookmark, user.id, pressed.value)
    page = await _within(
        lambda at: db(feed.bookmarks, user.id, at, SAVED_PAGE),
        pressed.page * SAVED_PAGE,
        SAVED_PAGE,
    )
    in_time = await answer(query, _("Removed.") if pressed.kind is CallbackKind.UNSAVE else None)
    await edit_or_reply(update, render.saved_blocks(page), saved_keyboard(page), edit=in_time)
