"""What readers see: papers, days, digests, alerts, search pages and settings, as blocks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bot.choices import Window
from bot.digest import MediaKind, arxiv_url
from bot.i18n import N_, _, ngettext
from bot.render.text import (
    MESSAGE_LIMIT,
    WEEKDAYS_SPELLED,
    authors_label,
    day_label,
    esc,
    link,
    shorten,
    visible_length,
    votes_label,
    wrap,
)
from bot.store.models import Every, RuleKind
from bot.store.queries import Page, PaperView, Stats
from bot.store.slots import SubscriptionView
from bot.textindex import despace, fold, term_matches


def first_point(paper: PaperView, limit: int, terms: Sequence[str] = ()) -> str:
    """The first summary point that has the first of ``terms`` (folded) that any point has
    (as search finds them: spacing between Hangul does not matter), else the first point."""
    if not paper.summary:
        return ""
    texts = [despace(fold(b.text)) for b in paper.summary] if terms else []
    chosen = next(
        (
            bullet
            for term in terms
            for bullet, folded in zip(paper.summary, texts, strict=True)
            if term_matches(term, folded)
        ),
        paper.summary[0],
    )
    return shorten(chosen.text, limit)


def compact_entry(
    rank: int,
    paper: PaperView,
    point_limit: int = 90,
    show_day: bool = False,
    terms: Sequence[str] = (),
) -> str:
    """One paper in a list: rank, linked title, votes, and a summary point shortened."""
    when = f" · {paper.day.isoformat()}" if show_day else ""
    head = f"<b>{rank}.</b> {link(arxiv_url(paper.arxiv_id), shorten(paper.title, 200))}{when}{votes_label(paper.votes)}"
    point = first_point(paper, point_limit, terms)
    return f"{head}\n    {esc(point)}" if point and point_limit else head


def paper_detail(paper: PaperView) -> str:
    """A paper in full: title, votes, authors, every summary point, where it appeared."""
    lines = [f"<b>{link(arxiv_url(paper.arxiv_id), shorten(paper.title, 300))}</b>"]
    meta = [f"arXiv {esc(paper.arxiv_id)}", day_label(paper.day)]
    if paper.votes is not None:
        meta.append(f"👍 {paper.votes}")
    lines.append(" · ".join(meta))
    if paper.authors:
        lines.append(f"👥 {esc(authors_label(paper.authors))}")
    if paper.media:
        kind = _("🎬 Video") if paper.media.kind is MediaKind.VIDEO else _("🖼 Image")
        lines.append(link(paper.media.url, kind))
    lines.append("")
    for bullet in paper.summary:
        pieces = wrap(bullet.text)
        first = f"• <b>{esc(bullet.key)}</b>: " if bullet.key else "• "
        lines += [first + esc(pieces[0]) if pieces else first.rstrip(": ")]
        lines += [esc(piece) for piece in pieces[1:]]
    if len(paper.days) > 1:
        lines.append("")
        lines.append("📅 " + ", ".join(d.isoformat() for d in paper.days[:10]))
    return "\n".join(lines)


def inline_card(paper: PaperView) -> str:
    """What an inline result posts: linked title, date, votes, the first three points."""
    meta = [day_label(paper.day)]
    if paper.votes is not None:
        meta.append(f"👍 {paper.votes}")
    lines = [
        f"<b>{link(arxiv_url(paper.arxiv_id), shorten(paper.title, 300))}</b>",
        " · ".join(meta),
    ]
    lines += [f"• {esc(shorten(b.text, 300))}" for b in paper.summary[:3] if b.text]
    return "\n".join(lines)


def inline_description(paper: PaperView) -> str:
    """The line under an inline result's title: date · votes · first point."""
    parts = [paper.day.isoformat()]
    if paper.votes is not None:
        parts.append(f"👍 {paper.votes}")
    point = first_point(paper, 120)
    if point:
        parts.append(point)
    return " · ".join(parts)


def day_heading(day: date) -> str:
    """What a day's papers are headed by, in ``/day`` and in digests alike: its date,
    never "today" (the day may be long past in the reader's zone)."""
    return f"📰 <b>Daily Papers</b> · {day_label(day)}"


def day_blocks(
    day: date, papers: Sequence[PaperView], point_limit: int = 0, shown: int | None = None
) -> list[str]:
    """A day's papers, most votes first; past ``shown`` papers, how many more there are."""
    count = ngettext("{count} paper", "{count} papers", len(papers)).format(count=len(papers))
    header = f"{day_heading(day)} · {count}"
    listed = papers[:shown]
    blocks = [header] + [compact_entry(i, p, point_limit) for i, p in enumerate(listed, 1)]
    if len(papers) > len(listed):
        blocks.append(
            _("… and {more} more (the top {shown} by votes are shown)").format(
                more=len(papers) - len(listed), shown=len(listed)
            )
        )
    return blocks


def digest_blocks(day: date, papers: Sequence[PaperView], total: int) -> list[str]:
    """The daily digest: compact, so that it fits one message per chat."""
    header = day_heading(day) + _top_of(papers, total)
    footer = _("Press a number for the whole summary.")
    return [header] + [compact_entry(i, p) for i, p in enumerate(papers, 1)] + [footer]


def _top_of(papers: Sequence[PaperView], total: int) -> str:
    if total <= len(papers):
        return ""
    return " · " + _("top {shown} of {total}").format(shown=len(papers), total=total)


def weekly_blocks(first: date, last: date, papers: Sequence[PaperView], total: int) -> list[str]:
    """The weekly digest: the most-voted papers of seven days, each with its best vote."""
    header = (
        _("🗓 <b>Weekly AI papers</b>")
        + f" · {first.isoformat()} … {last.isoformat()}{_top_of(papers, total)}"
    )
    entries = [compact_entry(i, p, show_day=True) for i, p in enumerate(papers, 1)]
    return [header, *entries, _("Press a number for the whole summary.")]


def alert_blocks(
    day: date, found: Sequence[tuple[PaperView, Sequence[str]]]
) -> tuple[list[str], int]:
    """A follow and watch alert: the new papers of a day, each with the rules it matched,
    as one message, and how many papers it lists. Summary points are shown while they fit;
    papers that do not fit at all are counted, with where to find them."""
    count = ngettext("{count} paper", "{count} papers", len(found)).format(count=len(found))
    header = _("🔔 <b>New papers</b>") + f" · {day_label(day)} · {count}"
    footer = _("Manage alerts with /following · /watching.")
    budget = MESSAGE_LIMIT - visible_length(header) - visible_length(footer) - 120

    def entries(point_limit: int) -> list[str]:
        return [
            f"{compact_entry(i, paper, point_limit=point_limit)}\n    {esc(' · '.join(map(alert_reason, why)))}"
            for i, (paper, why) in enumerate(found, 1)
        ]

    shown = entries(90)
    if sum(visible_length(e) + 2 for e in shown) > budget:
        shown = entries(0)
    kept, used = [], 0
    for entry in shown:
        used += visible_length(entry) + 2
        if used > budget:
            break
        kept.append(entry)
    rest = len(found) - len(kept)
    more = [_("… and {count} more: /day {day}").format(count=rest, day=day)] if rest else []
    return [header, *kept, *more, footer], len(kept)


def similar_blocks(paper: PaperView, papers: Sequence[PaperView]) -> list[str]:
    """Papers like ``paper``: its title, then theirs, each with its first point."""
    title = _("🧭 <b>Similar papers</b>") + f" · {esc(shorten(paper.title, 120))}"
    if not papers:
        return [title, _("No similar papers found.")]
    entries = [compact_entry(i, p, point_limit=100, show_day=True) for i, p in enumerate(papers, 1)]
    return [title, *entries]


def rules_blocks(title: str, rules: Sequence[str], usage: str) -> list[str]:
    """The list behind ``/following`` or ``/watching``."""
    if not rules:
        return [_("{title}: none").format(title=title), esc(usage)]
    lines = [f"{i}. {esc(r)}" for i, r in enumerate(rules, 1)]
    # Blocks of ten lines: a long list still splits between messages on a line boundary.
    return [f"{title} ({len(rules)})"] + [
        "\n".join(lines[i : i + 10]) for i in range(0, len(lines), 10)
    ]


PAGE_HEADER = N_("{title} · {count} found ({page}/{pages})")  # a page of results


def results_blocks(title: str, page: Page, terms: Sequence[str] = ()) -> list[str]:
    """A page of search or author results; ``terms`` pick the summary point shown."""
    pages = max(1, -(-page.total // page.limit))
    current = page.offset // page.limit + 1
    count = f"{page.total:,}+" if page.more or page.partial else f"{page.total:,}"
    header = _(PAGE_HEADER).format(
        title=title, count=count, page=current, pages=f"{pages}{'+' if page.more else ''}"
    )
    if page.partial:
        header += "\n" + _(
            "(The search ran long, so only the newest papers were searched. "
            "Try words of two letters or more.)"
        )
    entries = [
        compact_entry(page.offset + i, p, point_limit=100, show_day=True, terms=terms)
        for i, p in enumerate(page.items, 1)
    ]
    return [header, *entries]


def top_blocks(window: Window, page: Page) -> list[str]:
    """A page of ``/top``: the window, then its papers with their best vote in it."""
    title = f"🏆 <b>{esc(window.label)}</b>"
    if window.label != window.first.strftime("%Y-%m"):  # a month's name says its days
        title += f" · {window.first.isoformat()} … {window.last.isoformat()}"
    return results_blocks(title, page)


def empty_window(window: Window, stats: Stats) -> str:
    """Nothing loaded in a window: say which days there are (plain text)."""
    return _(
        "No digest is loaded for {first} … {last}. Loaded days: {oldest} … {newest} ({days})"
    ).format(
        first=window.first,
        last=window.last,
        oldest=stats.first_day,
        newest=stats.last_day,
        days=ngettext("{count} day", "{count} days", stats.days).format(count=stats.days),
    )


def saved_blocks(page: Page) -> list[str]:
    """A page of a user's bookmarks."""
    if not page.total:
        return [_("🔖 No saved papers yet. Save one with the 🔖 button under a paper.")]
    return results_blocks(_("🔖 <b>Saved papers</b>"), page)


def nothing_found(nothing: str, query: str, nearest: tuple[str, str, int] | None) -> str:
    """A search that found nothing: what was searched, and what finds something instead."""
    lines = [nothing.format(q=query)]
    if nearest is not None:
        kind, words, count = nearest
        lines.append(
            _("Try /{command} {words} ({count} papers).").format(
                command=kind, words=words, count=count
            )
        )
    else:
        lines.append(_("Spacing and particles do not matter; try fewer or other words."))
    return "\n".join(lines)


def subscription_line(sub: SubscriptionView) -> str:
    """A subscription's settings on one line (for /settings and the replies that change them)."""
    if sub.every is Every.WEEKLY:
        when = _("every {weekday} {time} ({zone}) · the past 7 days'").format(
            weekday=_(WEEKDAYS_SPELLED[sub.weekday]), time=sub.send_time, zone=sub.timezone
        )
    else:
        when = _("daily {time} ({zone}) ·").format(time=sub.send_time, zone=sub.timezone)
    what = [_("top {top}").format(top=sub.top_n)]  # what is not at its default, besides
    if sub.min_votes:
        what.append(_("at least {votes} votes").format(votes=sub.min_votes))
    if sub.keywords:
        what.append(_("keywords: {keywords}").format(keywords=", ".join(sub.keywords)))
    return esc(f"{when} {' · '.join(what)}")


REASON_MARKS = {RuleKind.FOLLOW: "👤", RuleKind.WATCH: "🔎"}


def alert_reason(why: str) -> str:
    """A stored reason (``"follow:Rémi Munos"``, see :func:`bot.store.alerts.why`) as the
    alert shows it: ``👤 Rémi Munos``. Text in no known form is shown as it is."""
    kind, sep, typed = why.partition(":")
    if sep and kind in REASON_MARKS:
        return f"{REASON_MARKS[RuleKind(kind)]} {typed}"
    return why
