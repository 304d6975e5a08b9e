"""Alerts a chat asks for: ``/follow`` an author, ``/watch`` words, and their lists.

Who may change them is who may change the chat's subscription (in a group, its
administrators); alerts need no subscription. The lists carry a ✕ button per rule, which
only such a person can use.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardMarkup, Update

from bot import render
from bot.arguments import command_args, parse_callback
from bot.buttons import rules_keyboard
from bot.handlers.common import answer, edit_or_reply, reply_blocks
from bot.handlers.subscriptions import allowed, may_manage
from bot.services import BotContext
from bot.store import alerts
from bot.store.alerts import MAX_RULES, Added
from bot.store.models import RuleKind


@dataclass(frozen=True)
class _Words:
    """What the replies of one kind of rule say."""

    kind: RuleKind
    button: str  # callback kind of its ✕ buttons
    title: str
    usage: str
    added: str
    known: str
    full: str
    removed: str
    unknown: str


FOLLOW = _Words(
    RuleKind.FOLLOW,
    "fx",
    "👤 팔로우하는 저자",
    "사용법: /follow 이름 (예: /follow Yann LeCun, 성만 적어도 됩니다)",
    "👤 팔로우합니다: {}\n새로 불러온 날에 이 저자의 논문이 있으면 알려 드려요.",
    "이미 팔로우하고 있어요: {}",
    f"팔로우는 채팅마다 {MAX_RULES}명까지예요. /following 에서 정리해 주세요.",
    "팔로우를 그만뒀어요: {}",
    "팔로우하지 않는 이름이에요: {} (목록: /following)",
)
WATCH = _Words(
    RuleKind.WATCH,
    "wx",
    "🔎 지켜보는 검색어",
    "사용법: /watch 검색어 (예: /watch 확산 모델)",
    "🔎 지켜봅니다: {}\n새로 불러온 논문이 이 검색어에 맞으면 알려 드려요.",
    "이미 지켜보고 있어요: {}",
    f"검색어는 채팅마다 {MAX_RULES}개까지예요. /watching 에서 정리해 주세요.",
    "더 이상 지켜보지 않아요: {}",
    "지켜보지 않는 검색어예요: {} (목록: /watching)",
)
BY_BUTTON = {words.button: words for words in (FOLLOW, WATCH)}


async def _add(update: Update, context: BotContext, words: _Words) -> None:
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None and message is not None
    typed = " ".join(command_args(message.text).split())
    if not typed:
        await message.reply_text(render.esc(words.usage))
        return
    if not await allowed(update, context):
        return
    added = await context.services.db(alerts.add_rule, chat.id, words.kind, typed)
    reply = {
        Added.ADDED: words.added,
        Added.KNOWN: words.known,
        Added.FULL: words.full,
        Added.EMPTY: words.usage,
    }[added]
    await message.reply_text(render.esc(reply.format(typed[: alerts.MAX_RULE_LENGTH])))


async def _remove(update: Update, context: BotContext, words: _Words) -> None:
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None and message is not None
    typed = " ".join(command_args(message.text).split())
    if not typed:
        await _list(update, context, words)
        return
    if not await allowed(update, context):
        return
    removed = await context.services.db(alerts.remove_rule, chat.id, words.kind, typed)
    reply = words.unknown.format(typed) if removed is None else words.removed.format(removed)
    await message.reply_text(render.esc(reply))


def _view(
    rules: list[alerts.RuleView], words: _Words
) -> tuple[list[str], InlineKeyboardMarkup | None]:
    blocks = render.rules_blocks(words.title, [r.text for r in rules], words.usage)
    return blocks, rules_keyboard(words.button, [(r.id, r.text) for r in rules])


async def _list(update: Update, context: BotContext, words: _Words) -> None:
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None and message is not None
    rules = await context.services.db(alerts.chat_rules, chat.id, words.kind)
    blocks, markup = _view(rules, words)
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


async def button(update: Update, context: BotContext) -> None:
    """``fx:ID`` / ``wx:ID``: remove that follow or watch of this chat, for its managers."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None
    pressed = parse_callback(query.data)
    if pressed is None or chat is None or pressed.kind not in BY_BUTTON:
        await answer(query, "만료된 버튼입니다.")
        return
    words = BY_BUTTON[pressed.kind]
    if not await may_manage(context, chat, update.effective_user):
        await answer(query, "그룹 관리자만 바꿀 수 있어요.")
        return
    db = context.services.db
    removed = await db(alerts.remove_rule, chat.id, words.kind, None, int(pressed.value))
    in_time = await answer(query, "지웠어요." if removed is not None else "이미 지워졌어요.")
    blocks, markup = _view(await db(alerts.chat_rules, chat.id, words.kind), words)
    await edit_or_reply(update, blocks, markup, edit=in_time)
