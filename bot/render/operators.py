"""What operators read: counts, and what a load or a write did."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath

from bot.i18n import N_, _
from bot.render.text import esc, shorten
from bot.store.ingest import LoadReport
from bot.store.queries import Stats
from bot.store.written import Skipped, WriteReport, WrittenTotals


def stats_lines(stats: Stats) -> Iterable[str]:
    """Counts for operators, as plain lines (escape them for HTML)."""
    yield f"papers: {stats.papers}"
    yield f"days: {stats.days} ({stats.first_day} … {stats.last_day})" if stats.days else "days: 0"
    yield f"day entries: {stats.entries}"
    yield f"subscribed chats: {stats.subscribed_chats}"
    if stats.stopped:
        yield "stopped: " + ", ".join(
            f"{reason} {n}" for reason, n in sorted(stats.stopped.items())
        )
    for chat_id, title in stats.no_rights:
        yield f"no rights to post (stopped): {chat_id} {title or ''}".rstrip()
    if stats.failing:
        yield f"deliveries Telegram refused, retrying: {stats.failing}"
    yield f"last delivery: {stats.last_delivery or '-'}"


def written_lines(totals: WrittenTotals) -> Iterable[str]:
    """What the bot wrote itself, for operators (nothing when it never wrote)."""
    if totals.days:
        yield (
            f"written by the bot: {totals.days} days, {totals.papers} papers "
            f"({totals.korean} in Korean), {totals.tokens} model tokens"
        )


def write_summary(report: WriteReport) -> str:
    """What a /write did, for the operator."""
    if report.skipped is not None:
        reason = _(SKIPS[report.skipped]).format(source=report.skipped_source or "")
        return esc(_("✍️ {day}: nothing written ({reason})").format(day=report.day, reason=reason))
    lines = [
        _(
            "✍️ {day}: {papers} papers · in Korean {korean} · English only {english} · "
            "model asked about {asked} · {tokens} tokens"
        ).format(
            day=report.day,
            papers=report.papers,
            korean=report.korean,
            english=report.english,
            asked=report.asked,
            tokens=report.tokens,
        ),
        f"📄 {report.path}" + (" (git)" if report.committed else ""),
        *(f"⚠️ {shorten(w, 200)}" for w in report.warnings[:5]),
    ]
    return esc("\n".join(lines))


SKIPS = {
    Skipped.EMPTY: N_("Hugging Face lists no paper for that day"),
    Skipped.OPERATORS: N_("it was loaded from the file {source}: a file's day is left as it is"),
}


def load_summary(name: str, report: LoadReport) -> str:
    """What a /load did, for the operator."""
    days = ", ".join(sorted({d.isoformat() for d in report.days}))
    named = PurePath(name).stem == days  # 2024-04-25.md holds 2024-04-25: said once
    lines = [
        f"📥 {esc(name)}" if named else f"📥 {esc(name)}: {days}",
        _(
            "added {added} · replaced {replaced} · unchanged {unchanged} · removed {removed}"
            " · skipped or warned {warned}"
        ).format(
            added=report.added,
            replaced=report.replaced,
            unchanged=report.unchanged,
            removed=report.removed,
            warned=len(report.warnings),
        ),
    ]
    lines += [f"⚠️ {esc(shorten(w, 200))}" for w in report.warnings[:5]]
    return "\n".join(lines)
