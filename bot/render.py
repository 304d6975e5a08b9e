"""Paper views → Telegram HTML strings, and splitting long replies. Pure: no Telegram, no SQL.

Every dynamic string goes through :func:`esc` (which also drops control characters). A
reply is a list of *blocks* (a paper, a header); :func:`split_message` packs blocks into
messages of at most 4096 UTF-16 units of visible text, splitting a block that is too long on
its line (bullet) boundaries. Lines are built short enough to never need a cut inside them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import PurePath

from bot.choices import Window
from bot.digest import MediaKind, arxiv_url, clean_text
from bot.i18n import N_, _, ngettext
from bot.store.ingest import LoadReport
from bot.store.models import Every, RuleKind
from bot.store.queries import Page, PaperView, Stats
from bot.store.subscriptions import SubscriptionView
from bot.store.written import Skipped, WriteReport, WrittenTotals
from bot.textindex import despace, fold, term_matches

MESSAGE_LIMIT = 4096
LINE_LIMIT = 1500  # longest plain text on one line; longer text is wrapped into lines
AUTHORS_SHOWN = 5
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
WEEKDAYS_SPELLED = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)

_TAG_RE = re.compile(r"<[^>]*>")


def esc(text: str) -> str:
    """Escape for Telegram HTML, without control characters."""
    return html.escape(clean_text(text), quote=True)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_length(message: str) -> int:
    """Length as Telegram counts it: the text after tags and entities are parsed."""
    return utf16_length(html.unescape(_TAG_RE.sub("", message)))


def shorten(text: str, limit: int) -> str:
    text = clean_text(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def link(url: str, title: str) -> str:
    return f'<a href="{esc(url)}">{esc(title)}</a>'


def day_label(day: date) -> str:
    return f"{day.isoformat()} ({_(WEEKDAYS[day.weekday()])})"


def votes_label(votes: int | None) -> str:
    return f" · 👍 {votes}" if votes is not None else ""


def authors_label(authors: Sequence[str], shown: int = AUTHORS_SHOWN) -> str:
    """``A, B, C and 12 more``: real papers list hundreds of authors."""
    names = ", ".join(clean_text(a) for a in authors[:shown])
    if len(authors) <= shown:
        return names
    return _("{names} and {count} more").format(names=names, count=len(authors) - shown)


def _wrap(text: str, limit: int = LINE_LIMIT) -> list[str]:
    """Plain text → pieces of at most ``limit`` characters, cut at spaces where possible."""
    text = clean_text(text)
    pieces = []
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip()
    return [*pieces, text] if text else pieces


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
        pieces = _wrap(bullet.text)
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


def results_blocks(title: str, page: Page, terms: Sequence[str] = ()) -> list[str]:
    """A page of search or author results; ``terms`` pick the summary point shown."""
    pages = max(1, -(-page.total // page.limit))
    current = page.offset // page.limit + 1
    count = f"{page.total:,}+" if page.more or page.partial else f"{page.total:,}"
    header = _("{title} · {count} found ({page}/{pages})").format(
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


def split_message(blocks: Iterable[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pack blocks into messages of at most ``limit`` visible UTF-16 units; a block that is
    too long is split on its line boundaries."""
    messages: list[str] = []
    current: list[str] = []
    size = 0
    separator = 2  # "\n\n" between blocks

    def flush() -> None:
        nonlocal current, size
        if current:
            messages.append("\n\n".join(current))
        current, size = [], 0

    for block in blocks:
        length = visible_length(block)
        if length > limit:
            flush()
            lines: list[str] = []
            line_size = 0
            for line in block.split("\n"):
                n = visible_length(line)
                if lines and line_size + 1 + n > limit:
                    messages.append("\n".join(lines))
                    lines, line_size = [], 0
                lines.append(line)
                line_size += n + (1 if len(lines) > 1 else 0)
            if lines:
                current, size = ["\n".join(lines)], line_size
            continue
        if current and size + separator + length > limit:
            flush()
        current.append(block)
        size += length + (separator if len(current) > 1 else 0)
    flush()
    return messages


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


REASON_MARKS = {RuleKind.FOLLOW: "👤", RuleKind.WATCH: "🔎"}


def alert_reason(why: str) -> str:
    """A stored reason (``"follow:Rémi Munos"``, see :func:`bot.store.alerts.why`) as the
    alert shows it: ``👤 Rémi Munos``. Text in no known form is shown as it is."""
    kind, sep, typed = why.partition(":")
    if sep and kind in REASON_MARKS:
        return f"{REASON_MARKS[RuleKind(kind)]} {typed}"
    return why


BIBTEX_LIMIT = 256  # characters Telegram's copy_text button carries


_MATH_RE = re.compile(r"(\$[^$]*\$)")
_LATEX_RE = re.compile(
    r"(?P<command>\\[A-Za-z]+\*?)|(?P<escaped>\\[&%#_$^~{}\\ ])|(?P<backslash>\\)"
    r"|(?P<special>[&%#_])|(?P<caret>\^)|(?P<tilde>~)|(?P<brace>[{}])"
    r"|(?P<word>[A-Za-z][A-Za-z0-9]*)"
)
_INNER_CAPITAL_RE = re.compile(r".+[A-Z]")


def _balanced(text: str) -> bool:
    """Do the braces pair up, as BibTeX counts them (``\\{`` is a brace to it too)?"""
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def latex(text: str, protect: bool = False) -> str:
    """A BibTeX field's text as LaTeX reads it: ``& % # _ ^ ~`` escaped outside math, math
    (``$…$``) and commands (``\textsc{…}``) kept as written (braces too, where they pair
    up), and, with ``protect``, words with inner capitals braced (``{LLM}``: styles that
    lowercase titles leave them)."""
    text = clean_text(text)
    keep_braces = _balanced(text)
    if text.count("$") % 2:
        text = text.replace("$", r"\$")
    out = []
    for number, segment in enumerate(_MATH_RE.split(text)):
        if number % 2:  # math: as written, but for what ends or breaks it anywhere
            math = re.sub(r"(?<!\\)([%&#])", r"\\\1", segment)
            out.append(math if keep_braces else re.sub(r"(?<!\\)[{}]", "", math))
            continue
        out.append(_LATEX_RE.sub(lambda m: _latex_token(m, keep_braces, protect), segment))
    return "".join(out)


def _latex_token(match: re.Match[str], keep_braces: bool, protect: bool) -> str:
    kind, token = match.lastgroup, match.group()
    if kind in ("command", "escaped"):
        return token if keep_braces or token not in (r"\{", r"\}") else ""
    if kind == "backslash":
        return r"\textbackslash{}"
    if kind == "special":
        return "\\" + token
    if kind == "caret":
        return r"\^{}"
    if kind == "tilde":
        return r"\~{}"
    if kind == "brace":
        return token if keep_braces else ""
    return f"{{{token}}}" if protect and _INNER_CAPITAL_RE.match(token) else token


def arxiv_year(arxiv_id: str, fallback: int) -> int:
    """The year an arXiv id was given in (``2312.02120``: 2023; ``hep-th/9901001``: 1999)."""
    match = re.match(r"(?:[a-z-]+(?:\.[A-Z]{2})?/)?(\d{2})(\d{2})", arxiv_id)
    if not match or not 1 <= int(match[2]) <= 12:
        return fallback
    year = int(match[1])
    return 1900 + year if year >= 91 else 2000 + year


def bibtex(paper: PaperView, limit: int | None = None) -> str:
    """The paper's BibTeX entry; within ``limit`` characters, the authors past the first
    few become ``and others`` (and the title is shortened) as needed."""
    key = "arxiv" + re.sub(r"[^0-9A-Za-z]", "", paper.arxiv_id)
    year = arxiv_year(paper.arxiv_id, paper.day.year)

    def entry(authors: Sequence[str], title: str, others: bool) -> str:
        names = " and ".join(latex(a) for a in authors) + (" and others" if others else "")
        return (
            f"@misc{{{key},\n  title = {{{latex(title, protect=True)}}},\n"
            f"  author = {{{names}}},\n  year = {{{year}}},\n  eprint = {{{paper.arxiv_id}}},\n"
            f"  archivePrefix = {{arXiv}},\n  url = {{{arxiv_url(paper.arxiv_id)}}}\n}}"
        )

    text = entry(paper.authors, paper.title, False)
    if limit is None or len(text) <= limit:
        return text
    for shown in range(min(len(paper.authors), 3), 0, -1):
        text = entry(paper.authors[:shown], paper.title, len(paper.authors) > shown)
        if len(text) <= limit:
            return text
    others = len(paper.authors) > 1
    # The title is shortened as written, then escaped: an escape is never cut in two.
    spare = limit - len(entry(paper.authors[:1], "", others))
    while spare > 1:
        text = entry(paper.authors[:1], shorten(paper.title, spare), others)
        if len(text) <= limit:
            return text
        spare -= max(1, len(text) - limit)
    return entry(paper.authors[:1], shorten(paper.title, 1), others)


def citation_to_copy(paper: PaperView) -> str | None:
    """The BibTeX a chat's copy button carries, or None when even the shortest entry
    (an old-style id of seventy letters, say) would not fit the button."""
    text = bibtex(paper, BIBTEX_LIMIT)
    return text if len(text) <= BIBTEX_LIMIT else None
