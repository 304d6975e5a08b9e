"""One field of a digest as written → as meant: text, arXiv ids, titles, authors, votes, media.

Real files drift in how they write each field (escapes, entities, emphasis, authors as a
code list, votes with thousands separators); each function takes every notation seen,
and what it cannot read it says so (``None``) rather than guessing.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

from bot.digest.model import Bullet, Media, MediaKind

MEDIA_BASE_URL = "https://huggingface.co/"


VIDEO_EXTENSIONS = frozenset({"mp4", "m4v", "mov", "qt", "webm", "mkv", "avi", "ogv", "mpeg"})


_LINK_TARGET_RE = re.compile(r"\(\s*<?(?P<url>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


_TITLE_LINK_TRIES = 8  # a title's last "](" candidates tried, from the right


_ARXIV_RE = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html)/|huggingface\.co/papers/|^arxiv:|^)"
    r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z.-]{0,119}/\d{7})(?:v\d+)?(?:\.pdf)?/?(?:[?#].*)?$",
    re.I,
)


# A bullet's bold key: ``**Key**:``, ``**Key:**``, and the archive's later ``***Key***:``.
_KEY_RE = re.compile(
    r"^\*{2,3}(?P<key>[^*]{1,80}?)\s*(?::\*{2,3}|\*{2,3}\s*:)\s*(?P<text>.*)$", re.S
)


# Control characters, invisible separators, and the noncharacters no text may hold (XML
# refuses U+FFFE and U+FFFF: a title with one would break every feed it is in).
_CONTROL_RE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2028\u2029\ufeff\ufdd0-\ufdef\ufffe\uffff]"
)


_SPACES_RE = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")


RULE_RE = re.compile(r"^(?:[-*_=]\s*+){3,}+$")  # a thematic break or setext underline


_UNCLEAN_RE = re.compile(
    r"[\x00-\x1f\x7f-\xa0\u2000-\u200b\u2028\u2029\u3000\ufeff\ufdd0-\ufdef\ufffe\uffff]|  "
)


MAX_VOTES = 2**31 - 1  # what the store's integer column holds


_COUNT_RE = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+")


# Title notation: inline math is kept as written; elsewhere a Markdown backslash escape or
# an HTML entity stands for its character, and emphasis around the whole title is markup.
_MATH_RE = re.compile(r"(\$[^$\n]+\$)")


_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")


_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


_WRAPPERS = ("**", "__", "*", "_", "`")


# Author notation: a list written as code (['A', "B"]), or names between , ; & and "and".
_QUOTED_RE = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")


_AUTHOR_SEPARATOR_RE = re.compile(r"\s*(?:[,;，、]|&|(?<![^\s,;])and(?=\s))\s*", re.I)


NAME_MARKUP = " +[]'\"`*_(){}<>"


_AUTHOR_NOTATION_RE = re.compile(r"[\[;&，、]|\band\b", re.I)  # beyond a plain comma list


_TITLE_NOTATION_RE = re.compile(r"[\\&*_`]")  # escapes, entities, emphasis


_WEB_URL_RE = re.compile(r"https?://[^/?#\s@]+(?:[/?#]|$)", re.I)


def clean_text(text: str) -> str:
    """Drop control characters and fold odd spaces (tabs, NBSP) into one space."""
    if _UNCLEAN_RE.search(text) is None:  # most lines: nothing to do
        return text.strip()
    return _SPACES_RE.sub(" ", _CONTROL_RE.sub("", text)).strip()


def parse_arxiv_id(value: str) -> str | None:
    """The arXiv id in an id, an ``arxiv:`` reference or an arXiv / HF papers URL."""
    match = _ARXIV_RE.search(value.strip())
    return match["id"].lower() if match else None


def arxiv_url(arxiv_id: str) -> str:
    """A paper's arXiv page (titles link there, whatever page the digest linked)."""
    return f"https://arxiv.org/abs/{arxiv_id}"


def title_link(text: str) -> tuple[str, str] | None:
    """``[Title](url)`` → (title, url). A title may hold brackets, so it ends at the last
    ``](`` that opens a link target; only the last few are tried, so that an odd line costs
    time in proportion to its length."""
    if not text.startswith("["):
        return None
    end = len(text)
    for _try in range(_TITLE_LINK_TRIES):
        end = text.rfind("](", 1, end)
        if end < 0:
            return None
        if target := _LINK_TARGET_RE.match(text, end + 1):
            return text[1:end], target["url"]
    return None


def web_url(url: str) -> bool:
    """Is this an absolute http(s) link (the only links the bot passes on)?"""
    return _WEB_URL_RE.match(url) is not None


def media_for(url: str) -> Media | None:
    """Image or video, told by the file's extension (the syntax around it lies); ``None``
    for a link that is not http(s) once made absolute (``javascript:``, ``data:``…)."""
    url = url.strip()
    if not url.startswith(("https://", "http://")) or "/." in url:  # relative, or ./ ../
        url = urljoin(MEDIA_BASE_URL, url)
    if not web_url(url):
        return None
    ext = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
    return Media(MediaKind.VIDEO if ext in VIDEO_EXTENSIONS else MediaKind.IMAGE, url)


def parse_votes(value: str) -> int | None:
    """A plain count (``12``, ``1,234``) within what the store holds; anything else
    (``²``, ``-``, a number past 2³¹) is no vote."""
    value = value.strip()
    if not _COUNT_RE.fullmatch(value):
        return None
    votes = int(value.replace(",", ""))
    return votes if votes <= MAX_VOTES else None


def clean_title(raw: str) -> str:
    """A title as meant: Markdown escapes and HTML entities outside inline math become
    their characters, emphasis around the whole title goes; math (``$\\times$``) stays."""
    title = clean_text(raw)
    if _TITLE_NOTATION_RE.search(title) is None:  # most titles
        return title
    for mark in _WRAPPERS:  # unescaped emphasis around it all (an escaped one is text)
        inner = title[len(mark) : -len(mark)]
        if (
            title.startswith(mark)
            and title.endswith(mark)
            and inner.strip()
            and mark not in inner
            and not inner.endswith("\\")
        ):
            title = inner.strip()
    parts = _MATH_RE.split(title)
    for index in range(0, len(parts), 2):  # the text between math spans
        text = _ESCAPE_RE.sub(r"\1", parts[index])
        parts[index] = _ENTITY_RE.sub(lambda m: html.unescape(m[0]), text)
    return clean_text("".join(parts))


def _author_names(value: str) -> list[str]:
    value = value.strip()
    if _AUTHOR_NOTATION_RE.search(value) is None:  # a plain comma list, as most are
        return value.split(",")
    if value.startswith("[") and value.endswith("]"):  # a list written as code
        quoted = [a or b for a, b in _QUOTED_RE.findall(value)]
        if quoted:
            return [re.sub(r"\\(.)", r"\1", name) for name in quoted]
        value = value[1:-1]
    return _AUTHOR_SEPARATOR_RE.split(value)


def parse_authors(value: str) -> list[str]:
    """Authors in order, without duplicates, the ``+`` that stands for 'and more', or the
    punctuation of the notation they were written in (``['A', 'B']``, ``A; B and C``)."""
    seen: set[str] = set()
    authors: list[str] = []
    for raw in _author_names(value):
        name = clean_text(raw).strip(NAME_MARKUP)
        if not name or name.casefold() in seen or name.casefold() in {"et al.", "et al"}:
            continue
        seen.add(name.casefold())
        authors.append(name)
    return authors


def parse_bullet(text: str) -> Bullet:
    text = clean_text(text)
    match = _KEY_RE.match(text)
    if match and match["text"].strip():
        return Bullet(text=match["text"].strip(), key=match["key"].strip())
    return Bullet(text=text)
