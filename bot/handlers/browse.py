"""Reading the archive: ``/day``, ``/search``, ``/author``, ``/paper`` and their buttons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session
from telegram import Chat, Message, Update

from bot import render
from bot.arguments import (
    UsageError,
    command_args,
    parse_day_arg,
    parse_paper_arg,
    parse_query_arg,
)
from bot.buttons import day_keyboard, paper_keyboard, results_keyboard, similar_keyboard
from bot.codec import (
    Callback,
    CallbackKind,
    PayloadKind,
    day_payload,
    parse_start_payload,
    ref_payload,
)
from bot.handlers.common import (
    NOTHING_LOADED,
    answer,
    deep_link,
    edit_or_reply,
    picture,
    reply_blocks,
    send_blocks,
)
from bot.i18n import N_, _
from bot.services import BotContext
from bot.store import feed, queries
from bot.store.queries import DayListing, Page, PaperView
from bot.store.search import COUNT_CAP, is_slow, search_papers, suggestion
from bot.store.similar import similar_papers

PAGE_SIZE = 5
STILL_SEARCHING = N_("Your last search is still running. Try again when it is done.")
SEARCH_USAGE = N_("Usage: /search WORDS (e.g. /search diffusion model, /search 확산 모델)")
AUTHOR_USAGE = N_("Usage: /author NAME (e.g. /author Rémi Munos, or a surname: /author munos)")
NOT_IN_ARCHIVE = N_("This paper is not in the archive.")


DAY_SHOWN = 30  # papers (and buttons) a /day reply shows; a huge day says how many more
DAY_POINT = 80  # characters of each paper's first Korean point under its title


def day_reply(listing: DayListing, asked: date | None) -> list[str]:
    if listing.papers:
        return render.day_blocks(listing.day, listing.papers, DAY_POINT, shown=DAY_SHOWN)
    if listing.previous is None and listing.following is None:
        return [_(NOTHING_LOADED)]
    nothing = _("No digest for {day}. The buttons below lead to the nearest days.")
    return [nothing.format(day=render.esc(str(asked)))]


@dataclass(frozen=True)
class Lookup:
    """``/search`` and ``/author``: the same recipe with a different query and wording."""

    kind: CallbackKind  # the saved query's kind, and the paging buttons' prefix
    usage: str
    icon: str
    nothing: str  # hint when nothing matches; {q} is the query
    find: Callable[[Session, str, int, int], Page]
    snippets: bool  # show the summary point that matches the query
    slow: Callable[[str], bool] = lambda text: False  # needs the slow lane?
    # What the results are headed by, if not the query as typed (an author's name as the
    # papers write it).
    name: Callable[[Session, str], str | None] = lambda session, text: None

    def page(self, session: Session, text: str, number: int) -> tuple[str, Page, str]:
        """Page ``number`` of the results (past the end: the last page), and its heading."""
        key = queries.save_query(session, self.kind, text)
        page = self.find(session, text, number * PAGE_SIZE, PAGE_SIZE)
        if not page.items and page.total:
            last = (min(page.total, COUNT_CAP) - 1) // PAGE_SIZE
            page = self.find(session, text, last * PAGE_SIZE, PAGE_SIZE)
        return key, page, (self.name(session, text) if page.total else None) or text

    def blocks(self, text: str, page: Page, heading: str) -> list[str]:
        terms = list(page.marks) if self.snippets else []
        return render.results_blocks(f"{self.icon} <b>{render.esc(heading)}</b>", page, terms)


SEARCH = Lookup(
    CallbackKind.SEARCH,
    SEARCH_USAGE,
    "🔎",
    N_("No papers match '{q}'."),
    search_papers,
    True,
    is_slow,
)
AUTHOR = Lookup(
    CallbackKind.AUTHOR,
    AUTHOR_USAGE,
    "👤",
    N_("No papers by '{q}' were found."),
    queries.papers_by_author,
    False,
    name=queries.author_name,
)
LOOKUPS = {lookup.kind: lookup for lookup in (SEARCH, AUTHOR)}


async def _hint(message: Message, text: str) -> None:
    await message.reply_text(render.esc(text))


async def _find(
    context: BotContext, lookup: Lookup, chat_id: int, text: str, number: int
) -> tuple[str, Page, str] | None:
    """A page of a lookup's results. A slow search (one the index cannot answer alone) runs
    in its own lane, one at a time per chat, so that it never holds up the others;
    ``None``: this chat has one running already."""
    services = context.services
    if not lookup.slow(text):
        return await services.db(lookup.page, text, number)
    if chat_id in services.slow_chats:
        return None
    services.slow_chats.add(chat_id)
    try:
        return await services.run(services.slow_lane, lookup.page, text, number)
    finally:
        services.slow_chats.discard(chat_id)


async def day(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None
    try:
        asked = parse_day_arg(command_args(message.text), context.services.today())
    except UsageError as exc:
        return await _hint(message, str(exc))
    listing = await context.services.db(queries.day_listing, asked)
    await reply_blocks(message, day_reply(listing, asked), day_keyboard(listing, DAY_SHOWN))


async def _lookup(update: Update, context: BotContext, lookup: Lookup) -> None:
    message = update.effective_message
    assert message is not None
    try:
        text = parse_query_arg(command_args(message.text), _(lookup.usage))
    except UsageError as exc:
        return await _hint(message, str(exc))
    found = await _find(context, lookup, message.chat_id, text, 0)
    if found is None:
        return await _hint(message, _(STILL_SEARCHING))
    key, page, heading = found
    if not page.total and lookup is not SEARCH:
        return await _hint(message, _(lookup.nothing).format(q=text))
    if not page.total:  # and what finds something instead (in the lane the search ran in)
        run, services = context.services.run, context.services
        lane = services.slow_lane if lookup.slow(text) else services.executor
        nearest = await run(lane, suggestion, text)
        return await _hint(message, render.nothing_found(_(lookup.nothing), text, nearest))
    blocks = lookup.blocks(text, page, heading)
    await reply_blocks(message, blocks, results_keyboard(lookup.kind, key, page))


async def search(update: Update, context: BotContext) -> None:
    await _lookup(update, context, SEARCH)


async def author(update: Update, context: BotContext) -> None:
    await _lookup(update, context, AUTHOR)


def reader(update: Update) -> int | None:
    """Whose bookmarks a paper view shows the state of: the reader's, in a private chat
    (where many read, the 🔖 button acts for whoever presses it)."""
    chat, user = update.effective_chat, update.effective_user
    return user.id if chat is not None and chat.type == Chat.PRIVATE and user else None


def _paper_for(
    session: Session, ref: str, user_id: int | None
) -> tuple[PaperView, bool | None] | None:
    """A paper, and whether ``user_id`` saved it (one trip to the database)."""
    found = queries.get_paper(session, ref)
    if found is None:
        return None
    return found, feed.is_saved(session, user_id, found.arxiv_id) if user_id else None


async def find_paper(
    update: Update, context: BotContext, ref: str
) -> tuple[PaperView, bool | None] | None:
    return await context.services.db(_paper_for, ref, reader(update))


async def send_paper(
    update: Update,
    context: BotContext,
    found: tuple[PaperView, bool | None],
    reply_to: Message | None = None,
) -> None:
    """A paper in full: as a reply to ``reply_to``, else as a new message in the chat."""
    view, saved = found
    app_url = context.services.settings.webapp_url
    cite = render.citation_to_copy(view)
    blocks, keys = [render.paper_detail(view)], paper_keyboard(view, cite, saved, app_url)
    if reply_to is not None:
        await reply_blocks(reply_to, blocks, keys, picture(view))
    else:
        await send_blocks(update, blocks, keys, picture(view))


async def paper(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None
    try:
        arxiv_id = parse_paper_arg(command_args(message.text))
    except UsageError as exc:
        return await _hint(message, str(exc))
    found = await find_paper(update, context, arxiv_id)
    if found is None:
        return await _hint(message, _("{id} is not in the archive.").format(id=arxiv_id))
    await send_paper(update, context, found, reply_to=message)


async def open_link(update: Update, context: BotContext, payload: str) -> bool:
    """``/start PAYLOAD`` from a deep link: a paper (``p_…``) or a day (``d_…``); False
    when the payload asks for neither (the caller says hello instead)."""
    message = update.effective_message
    assert message is not None
    asked = parse_start_payload(payload)
    if asked is None or asked.kind is PayloadKind.SUBSCRIBE:
        return False
    db = context.services.db
    if asked.kind is PayloadKind.DAY:
        assert asked.day is not None
        listing = await db(queries.day_listing, asked.day)
        await reply_blocks(message, day_reply(listing, asked.day), day_keyboard(listing, DAY_SHOWN))
        return True
    for ref in asked.refs:
        found = await find_paper(update, context, ref)
        if found is not None:
            await send_paper(update, context, found, reply_to=message)
            return True
    await _hint(message, _("The linked paper is not in the archive. Try /search."))
    return True


def _with_similar(session: Session, ref: str) -> tuple[PaperView, list[PaperView]] | None:
    """The paper a button stands for, and the papers like it (one trip to the database)."""
    found = queries.get_paper(session, ref)
    return None if found is None else (found, similar_papers(session, found.arxiv_id))


async def similar(update: Update, context: BotContext, ref: str) -> None:
    """The 비슷한 논문 button: the five papers closest to one, as a new message."""
    query = update.callback_query
    assert query is not None
    found = await context.services.db(_with_similar, ref)
    if found is None:
        await answer(query, _(NOT_IN_ARCHIVE))
        return
    paper, papers = found
    await answer(query)
    await send_blocks(update, render.similar_blocks(paper, papers), similar_keyboard(papers))


async def for_the_presser(update: Update, context: BotContext, pressed: Callback) -> None:
    """A press that may not act in its chat: a paper or a day opens in the presser's
    private chat (a deep link their app follows)."""
    query = update.callback_query
    assert query is not None
    username = context.bot.username
    if pressed.kind is CallbackKind.DAY:
        await answer(query, url=deep_link(username, day_payload(date.fromisoformat(pressed.value))))
    else:
        await answer(query, url=deep_link(username, ref_payload(pressed.value)))


async def open_pressed(update: Update, context: BotContext, pressed: Callback) -> None:
    """``p`` (a paper in full), ``m`` (papers like it) and ``d`` (a day). A press answered
    too late ("query is too old") still shows what was asked, as a new message: the message
    it was under may be far up the chat by now."""
    query = update.callback_query
    assert query is not None
    if pressed.kind is CallbackKind.SIMILAR:
        return await similar(update, context, pressed.value)
    if pressed.kind is CallbackKind.DAY:
        asked = date.fromisoformat(pressed.value)
        listing = await context.services.db(queries.day_listing, asked)
        in_time = await answer(query)
        keys = day_keyboard(listing, DAY_SHOWN)
        await edit_or_reply(update, day_reply(listing, asked), keys, edit=in_time)
        return
    found = await find_paper(update, context, pressed.value)
    if found is None:
        await answer(query, _(NOT_IN_ARCHIVE))
        return
    await answer(query)
    await send_paper(update, context, found)


async def page_pressed(update: Update, context: BotContext, pressed: Callback) -> None:
    """``s`` and ``a``: another page of a saved /search or /author."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    lookup = LOOKUPS[pressed.kind]
    text = await context.services.db(queries.saved_query, lookup.kind, pressed.value)
    if text is None:
        await answer(query, _("This button has expired. Please search again."))
        return
    result = await _find(context, lookup, chat.id, text, pressed.page)
    if result is None:
        await answer(query, _(STILL_SEARCHING))
        return
    in_time = await answer(query)
    _key, page, heading = result
    keys = results_keyboard(lookup.kind, pressed.value, page)
    await edit_or_reply(update, lookup.blocks(text, page, heading), keys, edit=in_time)
