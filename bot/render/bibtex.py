"""A paper's BibTeX entry, as LaTeX reads it, within what a copy button carries."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.digest import arxiv_url, clean_text
from bot.render.text import shorten
from bot.store.queries import PaperView

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
