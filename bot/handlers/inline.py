"""Inline mode (``@Bot words`` in any chat) and deep links (``t.me/Bot?start=…``).

An inline query is searched exactly as ``/search`` searches (same ranking, same pages of
the same results), 20 at a time with ``next_offset``; an empty one lists the newest day's
top papers. The card a user picks is compact, shows the paper's thumbnail above it (a link
preview), and carries a button that opens the paper in full in a private chat with the
bot (a deep link).
"""

from __future__ import annotations

from telegram import (
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)

from bot import render
from bot.arguments import MAX_QUERY_LENGTH, UsageError, parse_count, parse_query_arg
from bot.buttons import card_keyboard
from bot.codec import paper_payload
from bot.handlers.common import deep_link, picture
from bot.services import BotContext
from bot.store import queries
from bot.store.queries import PaperView
from bot.store.search import COUNT_CAP, is_slow, search_papers

INLINE_PAGE = 20
CACHE_SECONDS = 300  # the archive changes once a day: Telegram may reuse an answer a while
MAX_OFFSET = COUNT_CAP  # as far as /search pages go


def result(paper: PaperView, username: str, app_url: str | None) -> InlineQueryResultArticle:
    page_url = f"{app_url}/paper/{paper.arxiv_id}" if app_url else None
    return InlineQueryResultArticle(
        id=paper_payload(paper.arxiv_id),
        title=render.shorten(paper.title, 200),
        description=render.inline_description(paper),
        input_message_content=InputTextMessageContent(
            render.inline_card(paper),
            link_preview_options=picture(paper) or LinkPreviewOptions(is_disabled=True),
        ),
        reply_markup=card_keyboard(deep_link(username, paper_payload(paper.arxiv_id)), page_url),
    )


def _offset(text: str) -> int:
    """The offset a next page asked for; anything this bot did not write starts over."""
    return parse_count(text, MAX_OFFSET - 1) or 0


async def answer(update: Update, context: BotContext) -> None:
    query = update.inline_query
    assert query is not None
    try:
        words = parse_query_arg(query.query[:MAX_QUERY_LENGTH], "")
    except UsageError:  # nothing typed (or only invisible characters): the newest day
        words = ""
    offset = _offset(query.offset)
    services = context.services
    db = services.db
    if words:
        if is_slow(words):  # a scan: in the slow lane, as /search does
            page = await services.run(services.slow_lane, search_papers, words, offset, INLINE_PAGE)
        else:
            page = await db(search_papers, words, offset, INLINE_PAGE)
        papers, more = list(page.items), page.has_next
    else:
        newest = await db(queries.latest_day)
        papers = list(await db(queries.top_papers, newest, INLINE_PAGE)) if newest else []
        more = False
    next_offset = str(offset + INLINE_PAGE) if more and offset + INLINE_PAGE < MAX_OFFSET else ""
    username = context.bot.username
    await query.answer(
        [result(p, username, services.settings.webapp_url) for p in papers],
        cache_time=CACHE_SECONDS,
        is_personal=True,  # the cards speak the user's language: not one answer for everyone
        next_offset=next_offset or None,  # none: no more pages
    )
