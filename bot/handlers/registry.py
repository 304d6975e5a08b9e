"""The tables of commands and buttons: they drive handler registration, the command menu
and /help, and what every button press goes through first."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import (
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import render
from bot.arguments import command_args
from bot.buttons import start_keyboard
from bot.codec import Callback, parse_callback
from bot.codec import CallbackKind as K
from bot.handlers import browse, feed, follows, inline, operators, subscriptions
from bot.handlers.common import EXPIRED, NOT_YOURS, answer
from bot.i18n import N_, _, language_of, set_language, speaking
from bot.rights import Reach, may_manage, reach_of
from bot.services import BotContext, PapersApplication
from bot.store import languages

CommandCallback = Callable[[Update, BotContext], Coroutine[Any, Any, Any]]
ButtonCallback = Callable[[Update, BotContext, Callback], Coroutine[Any, Any, Any]]


# The headings /help groups the commands under, in order.
READING = N_("<b>Reading the archive</b>")
DAILY = N_("<b>Every day in this chat</b>")
ALERTS = N_("<b>Alerts for new papers</b>")
OPERATORS = N_("<b>Operators</b>")
ABOUT = N_("<b>This bot</b>")
GROUPS = (READING, DAILY, ALERTS, OPERATORS, ABOUT)


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    description: str
    callback: CommandCallback
    operator_only: bool = False
    group: str = READING
    first: bool = False  # one of the few /start shows (the rest: /help and the menu)


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
        markup = start_keyboard(link, context.services.settings.webapp_url)
    await message.reply_text(help_text(operator, greeting=greeting), reply_markup=markup)


COMMANDS: tuple[Command, ...] = (
    Command("start", "", N_("About the bot, and its commands"), start, group=ABOUT),
    Command("help", "", N_("The commands"), help_command, group=ABOUT),
    Command(
        "day",
        N_("[date]"),
        N_("A day's papers (YYYY-MM-DD, today, yesterday, latest)"),
        browse.day,
        first=True,
    ),
    Command(
        "search", N_("words"), N_("Search titles, authors and summaries"), browse.search, first=True
    ),
    Command(
        "author",
        N_("name"),
        N_("An author's papers (a surname alone works)"),
        browse.author,
        first=True,
    ),
    Command("paper", "arXiv-ID", N_("One paper's whole summary"), browse.paper),
    Command(
        "top",
        "[week | month | YYYY-MM]",
        N_("The most-voted papers (default: the last 7 days)"),
        feed.top,
    ),
    Command("saved", "[clear]", N_("🔖 Your saved papers (private chat)"), feed.saved),
    Command(
        "subscribe",
        N_("[@channel] [HH:MM]"),
        N_("Papers in this chat (or your channel) every day (default 09:00)"),
        subscriptions.subscribe,
        group=DAILY,
        first=True,
    ),
    Command(
        "unsubscribe",
        N_("[@channel]"),
        N_("Stop the digest"),
        subscriptions.unsubscribe,
        group=DAILY,
    ),
    Command(
        "settings",
        N_(
            "[@channel] [time HH:MM | top N | tz Area/City | minvotes N | keywords a, b"
            " | every daily|weekly mon | lang ko|en]"
        ),
        N_("See or change the digest (every weekly mon: the past 7 days, every Monday)"),
        subscriptions.settings,
        group=DAILY,
    ),
    Command(
        "follow",
        N_("name"),
        N_("Follow an author: an alert for each new paper"),
        follows.follow,
        group=ALERTS,
    ),
    Command("unfollow", N_("name"), N_("Stop following"), follows.unfollow, group=ALERTS),
    Command("following", "", N_("The authors you follow"), follows.following, group=ALERTS),
    Command(
        "watch",
        N_("words"),
        N_("Watch words: an alert for new papers they match"),
        follows.watch,
        group=ALERTS,
    ),
    Command("unwatch", N_("words"), N_("Stop watching"), follows.unwatch, group=ALERTS),
    Command("watching", "", N_("The words you watch"), follows.watching, group=ALERTS),
    Command(
        "load",
        "",
        N_("Load a .md digest (caption or reply)"),
        operators.load,
        operator_only=True,
        group=OPERATORS,
    ),
    Command("stats", "", N_("Statistics"), operators.stats, operator_only=True, group=OPERATORS),
    Command(
        "deliver",
        N_("[date]"),
        N_("Deliver to the subscribed chats now"),
        operators.deliver,
        operator_only=True,
        group=OPERATORS,
    ),
    Command(
        "write",
        N_("[date]"),
        N_("Write a day's digest now from Hugging Face's daily papers"),
        operators.write,
        operator_only=True,
        group=OPERATORS,
    ),
)

INTRO = N_(
    "📚 <b>Daily Papers bot</b>\n"
    "The most-voted AI papers of Hugging Face Daily Papers, with Korean summaries. "
    "Get them at a set time every day, or look up past papers by day, words or author."
)


def help_text(operator: bool = False, greeting: bool = False) -> str:
    """``/help``: every command, grouped. ``/start`` (``greeting``): what the bot is and the
    few commands that matter first; the rest are one tap away (/help, the menu)."""
    if greeting:
        lines = [_(INTRO), ""]
        lines += [_line(c) for c in COMMANDS if c.first]
        lines += ["", _("Every command: /help, or the menu beside the message box.")]
        return "\n".join(lines)
    sections = []
    for group in GROUPS:
        shown = [c for c in COMMANDS if c.group == group and (operator or not c.operator_only)]
        if shown:
            sections.append("\n".join([_(group), *map(_line, shown)]))
    return "\n\n".join(sections)


def _line(command: Command) -> str:
    args = f" {render.esc(_(command.args))}" if command.args else ""
    return f"/{command.name}{args} — {render.esc(_(command.description))}"


def menu(lang: str) -> list[BotCommand]:
    """The command menu everyone sees, in ``lang`` (operator commands stay out of it)."""
    with speaking(lang):
        return [BotCommand(c.name, _(c.description)) for c in COMMANDS if not c.operator_only]


def menus() -> list[tuple[str | None, list[BotCommand]]]:
    """(``language_code``, menu) for ``setMyCommands``: Korean for Korean users, and the
    default (everyone else, as replies go) in English."""
    return [("ko", menu("ko")), (None, menu("en"))]


async def choose_language(update: Update, context: BotContext) -> None:
    """Before any handler: speak the chat's chosen language (``/settings lang``), else the
    user's own. Runs first (group -1) and in the update's own task, like the handlers."""
    chat, user = update.effective_chat, update.effective_user
    chosen = None
    if chat is not None:
        known, chosen = context.services.languages.get(chat.id)
        if not known:
            chosen = await context.services.db(languages.chosen, chat.id)
            context.services.languages.put(chat.id, chosen)
    set_language(chosen or language_of(user.language_code if user else None))


UNKNOWN_COMMAND = N_("There is no command {command}. The commands: /help")


async def unknown_command(update: Update, context: BotContext) -> None:
    """A command the bot does not have, in a private chat: a one-line pointer to /help (in
    groups other bots' commands are none of its business)."""
    message = update.effective_message
    assert message is not None and message.text is not None
    typed = message.text.split(maxsplit=1)[0][:40]
    await message.reply_text(_(UNKNOWN_COMMAND).format(command=render.esc(typed)))


PLAIN_TEXT = N_(
    "Hello! To find papers, send /search and some words (e.g. /search diffusion model)."
    " Every command: /help"
)


async def plain_text(update: Update, context: BotContext) -> None:
    """Words without a command, in a private chat: a one-line pointer rather than silence."""
    message = update.effective_message
    assert message is not None
    await message.reply_text(_(PLAIN_TEXT))


class Who(Enum):
    """Who a button acts for, and so who may press it."""

    PRESSER = "presser"  # the presser's own things (their bookmarks): anyone, anywhere
    CHAT = "chat"  # the chat it is in: where the press may act there (bot.rights.reach_of)
    MANAGERS = "managers"  # what the chat receives: its administrators


@dataclass(frozen=True)
class Button:
    kinds: tuple[K, ...]
    callback: ButtonCallback
    who: Who
    # A CHAT button pressed where it may not act: what the presser gets instead.
    elsewhere: ButtonCallback | None = None
    refusal: str = NOT_YOURS  # what a press that may not act is told


BUTTONS: tuple[Button, ...] = (
    Button((K.PAPER, K.SIMILAR, K.DAY), browse.open_pressed, Who.CHAT, browse.for_the_presser),
    Button((K.SEARCH, K.AUTHOR), browse.page_pressed, Who.CHAT),
    Button((K.TOP, K.SAVED, K.UNSAVE), feed.page_pressed, Who.CHAT),
    Button((K.BOOKMARK,), feed.bookmark_pressed, Who.PRESSER),
    Button(
        (K.UNFOLLOW, K.UNWATCH),
        follows.remove_pressed,
        Who.MANAGERS,
        refusal=N_("Only the group's admins can change this."),
    ),
    Button(
        (K.SUBSCRIBE,),
        subscriptions.subscribe_pressed,
        Who.MANAGERS,
        refusal=N_("Only the group's admins can subscribe it."),
    ),
)
BUTTON_FOR = {kind: button for button in BUTTONS for kind in button.kinds}


async def pressed(update: Update, context: BotContext) -> None:
    """Every button press: its data parsed (checked, never trusted), then whether the presser
    may act with it here, then its kind's callback."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None
    press = parse_callback(query.data)
    button = BUTTON_FOR.get(press.kind) if press is not None else None
    if press is None or button is None:
        await answer(query, _(EXPIRED))
        return
    if button.who is Who.CHAT and await reach_of(query, context) is Reach.PRESSER:
        if button.elsewhere is not None:
            await button.elsewhere(update, context, press)
        else:
            await answer(query, _(button.refusal))
        return
    if button.who is Who.MANAGERS and (
        chat is None or not await may_manage(context, chat, update.effective_user)
    ):
        await answer(query, _(button.refusal))
        return
    await button.callback(update, context, press)


def register(application: PapersApplication) -> None:
    application.add_handler(TypeHandler(Update, choose_language), group=-1)
    for command in COMMANDS:
        application.add_handler(CommandHandler(command.name, command.callback))
    # After every command above: only what none of them took.
    application.add_handler(
        MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, unknown_command)
    )
    words = filters.TEXT & ~filters.COMMAND & ~filters.VIA_BOT & ~filters.UpdateType.EDITED
    application.add_handler(MessageHandler(words & filters.ChatType.PRIVATE, plain_text))
    application.add_handler(CallbackQueryHandler(pressed))
    application.add_handler(InlineQueryHandler(inline.answer))
    # "/load" as the caption of a document (captions are not commands to CommandHandler).
    load_caption = filters.Document.ALL & filters.CaptionRegex(r"^/load(@\w+)?(\s|$)")
    application.add_handler(MessageHandler(load_caption, operators.load))
    application.add_handler(
        ChatMemberHandler(subscriptions.membership, ChatMemberHandler.MY_CHAT_MEMBER)
    )
