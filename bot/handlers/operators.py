"""Operators (``BOT_ADMIN_IDS``): ``/load`` a digest document, ``/stats``, ``/deliver``,
``/write`` a day now."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session
from telegram import Document, Message, Update

from bot import render
from bot.arguments import UsageError, command_args, parse_day_arg
from bot.digest import DigestError, decode_digest, parse_digest
from bot.i18n import N_, _
from bot.services import BotContext
from bot.store import queries, written
from bot.store.db import begin_writing
from bot.store.ingest import LoadReport, store_digest
from bot.writer import SourceError, closed_day, write_day

NOT_OPERATOR = N_("Only operators can use this command.")
LOAD_USAGE = N_(
    "Usage: send a .md file with /load as its caption, or reply /load to a file message."
)


async def _operator(update: Update, context: BotContext) -> Message | None:
    """The message, if its sender is an operator; otherwise refuse and return None."""
    message, user = update.effective_message, update.effective_user
    assert message is not None
    if context.services.is_operator(user.id if user else None):
        return message
    await message.reply_text(render.esc(_(NOT_OPERATOR)))
    return None


def _parse_and_store(session: Session, data: bytes, name: str) -> LoadReport:
    """Parse an uploaded file and store it (in a database thread: a 5 MB file takes about a
    second to parse, which the event loop must not wait for)."""
    digest = parse_digest(decode_digest(data, name), name)
    with session.begin():
        begin_writing(session)
        return store_digest(session, digest)


def rejection(error: DigestError) -> str:
    """Why a file was refused, with the warnings that explain it."""
    lines = [
        _("Refused: {reason}").format(reason=error),
        *(f"⚠️ {render.shorten(w, 200)}" for w in error.warnings[:5]),
    ]
    return render.esc("\n".join(lines))


async def load(update: Update, context: BotContext) -> None:
    """``/load`` as a document's caption, or as a reply to a document."""
    message = await _operator(update, context)
    if message is None:
        return
    document: Document | None = message.document
    if document is None and message.reply_to_message is not None:
        document = message.reply_to_message.document
    if document is None:
        await message.reply_text(render.esc(_(LOAD_USAGE)))
        return
    name = document.file_name or "digest.md"
    limit = context.services.settings.max_upload_bytes
    if not name.lower().endswith(".md"):
        await message.reply_text(
            render.esc(_("Refused: {name}: only .md files can be loaded.").format(name=name))
        )
        return
    if (document.file_size or 0) > limit:
        await message.reply_text(
            render.esc(_("Refused: {name}: the file is larger than 5 MB.").format(name=name))
        )
        return
    file = await context.bot.get_file(document.file_id)
    data = bytes(await file.download_as_bytearray())
    try:
        report = await context.services.db(_parse_and_store, data, name)
    except DigestError as exc:
        await message.reply_text(rejection(exc))
        return
    await message.reply_text(render.load_summary(name, report))
    if report.added:  # follows and watches of the new papers: alerts now, not at the next round
        context.services.match_alerts()


async def stats(update: Update, context: BotContext) -> None:
    message = await _operator(update, context)
    if message is None:
        return
    result = await context.services.db(queries.stats)
    totals = await context.services.db(written.totals)
    lines = [*render.stats_lines(result), *render.written_lines(totals)]
    await message.reply_text(render.esc("\n".join(lines)))


async def deliver(update: Update, context: BotContext) -> None:
    message = await _operator(update, context)
    if message is None:
        return
    services = context.services
    try:
        chosen = parse_day_arg(command_args(message.text), services.today())
    except UsageError as exc:
        await message.reply_text(render.esc(str(exc).replace("/day", "/deliver")))
        return
    if chosen is not None and not await services.db(queries.has_day, chosen):
        await message.reply_text(render.esc(_("No digest for {day}.").format(day=chosen)))
        return
    assert services.deliverer is not None
    await message.reply_text(_("📤 Delivering now."))
    report = await services.deliverer.start_pass(chosen, finish=True)
    await message.reply_text(
        render.esc(_("📤 Delivered · {report}").format(report=report.summary()))
    )


async def write(update: Update, context: BotContext) -> None:
    """``/write [DATE]``: write a day's digest now from Hugging Face's daily papers."""
    message = await _operator(update, context)
    if message is None:
        return
    now = datetime.now(UTC)
    try:  # UTC days, as Hugging Face lists them; the newest whose list closed by default
        day = parse_day_arg(command_args(message.text), now.date()) or closed_day(now)
    except UsageError:
        await message.reply_text(render.esc(_(WRITE_USAGE)))
        return
    await message.reply_text(render.esc(_("✍️ Writing {day} now.").format(day=day)))
    try:
        report = await write_day(context.services, day)
    except SourceError as exc:
        text = _("✍️ {day}: Hugging Face's list could not be read ({reason}); nothing written.")
        await message.reply_text(render.esc(text.format(day=day, reason=exc)))
        return
    await message.reply_text(render.write_summary(report))


WRITE_USAGE = N_("Usage: /write [YYYY-MM-DD | today | yesterday] (default: the newest closed day)")
