"""Digest files → days → papers. Pure parsing: no Telegram, no SQL.

A digest is Markdown: ``## Daily Papers (YYYY-MM-DD)`` starts a day and
``### [Title](https://arxiv.org/abs/ID)`` a paper, followed by optional media, ``Vote:``,
``Authors:`` and ``- `` bullets of Korean summary. markdown-it-py gives the block structure
(headings, paragraphs, HTML blocks, with their source lines); each line inside is then
recognised on its own, list items by their marker and indentation, as CommonMark reads
them. Real files drift, so an unknown line is skipped with a warning, and one odd paper
never costs the rest of the file. :class:`DigestError` is the only exception raised.
"""

from __future__ import annotations

import html
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from markdown_it import MarkdownIt
from markdown_it.token import Token

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ID_LENGTH = 128  # longer than any arXiv id; what the store keeps at most
MEDIA_BASE_URL = "https://huggingface.co/"
VIDEO_EXTENSIONS = frozenset({"mp4", "m4v", "mov", "qt", "webm", "mkv", "avi", "ogv", "mpeg"})

_DAY_RE = re.compile(r"Daily Papers\s*\(\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*\)", re.I)
_PATH_DATE_RE = re.compile(r"(\d{4})[/_-](\d{2})[/_-](\d{2})(?:\.md)?$")
_LINK_TARGET_RE = re.compile(r"\(\s*<?(?P<url>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_TITLE_LINK_TRIES = 8  # a title's last "](" candidates tried, from the right
_ARXIV_RE = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html)/|huggingface\.co/papers/|^arxiv:|^)"
    r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z.-]{0,119}/\d{7})(?:v\d+)?(?:\.pdf)?/?(?:[?#].*)?$",
    re.I,
)
_IMAGE_RE = re.compile(r"^!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_WATCH_RE = re.compile(r"^\[Watch Video\]\s*\(?\s*(\S+?)\s*\)?$", re.I)
_VIDEO_TAG_RE = re.compile(r"<(?:video|source)\b[^<>]*?\bsrc\s*=\s*[\"']?([^\"'\s>]+)", re.I)
_VOTE_RE = re.compile(r"^Votes?\s*:\s*(.*)$", re.I)
_AUTHORS_RE = re.compile(r"^Authors?\s*:\s*(.*)$", re.I)
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
_RULE_RE = re.compile(r"^(?:[-*_=]\s*+){3,}+$")  # a thematic break or setext underline
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


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class Media:
    kind: MediaKind
    url: str


@dataclass(frozen=True)
class Bullet:
    """One summary point, with its optional bold key (``**Key**: text``)."""

    text: str
    key: str | None = None

    def as_text(self) -> str:
        return f"{self.key}: {self.text}" if self.key else self.text


@dataclass
class Paper:
    arxiv_id: str
    title: str
    url: str
    line: int
    votes: int | None = None
    authors: list[str] = field(default_factory=list)
    summary: list[Bullet] = field(default_factory=list)
    media: Media | None = None


@dataclass
class DigestDay:
    day: date
    papers: list[Paper] = field(default_factory=list)


@dataclass
class Digest:
    """What one file holds: its days in file order, and what was skipped."""

    source: str
    days: list[DigestDay]
    warnings: list[str]

    @property
    def paper_count(self) -> int:
        return sum(len(d.papers) for d in self.days)


class DigestError(ValueError):
    """A file that cannot be loaded at all, with where and why, and the warnings that
    explain it (the lines that were skipped on the way)."""

    def __init__(
        self, source: str, reason: str, line: int | None = None, warnings: Sequence[str] = ()
    ) -> None:
        self.source, self.reason, self.line = source, reason, line
        self.warnings = tuple(warnings)
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Parse workers send it back to the loading process: rebuilt from its own fields.
        return (DigestError, (self.source, self.reason, self.line, self.warnings))


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


def _title_link(text: str) -> tuple[str, str] | None:
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


def decode_digest(data: bytes, source: str) -> str:
    """Bytes → text, refusing what is not a UTF-8 text file of at most 5 MB."""
    if len(data) > MAX_FILE_BYTES:
        raise DigestError(source, f"file is {len(data) / 1e6:.1f} MB; the limit is 5 MB")
    if not data.strip():
        raise DigestError(source, "file is empty")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DigestError(source, "binary file (NUL byte)", data.count(b"\n", 0, nul) + 1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DigestError(source, f"not UTF-8 (byte 0x{data[exc.start]:02x})", line) from exc


def shown_path(path: Path | str) -> str:
    """A path as text that can be stored and printed, whatever bytes its name holds: a name
    that is not UTF-8 keeps its odd bytes as ``\\xff`` escapes (the same each time)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_digest(path: Path) -> Digest:
    """Read and parse one file, checking its size before reading it whole."""
    source = shown_path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DigestError(source, f"file is {size / 1e6:.1f} MB; the limit is 5 MB")
        data = path.read_bytes()
    except OSError as exc:
        raise DigestError(source, exc.strerror or "cannot read file") from exc
    return parse_digest(decode_digest(data, source), source)


def _date_from_source(source: str) -> date | None:
    match = _PATH_DATE_RE.search(source.replace("\\", "/"))
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


# Only the block structure is used; each line is then read on its own, so the inline pass
# (half of markdown-it's time) is switched off, and so are block rules a digest never
# means: link reference definitions, setext headings and rules (read as lines instead,
# and a rule line is skipped there). Lists are read as lines too (``_Parser.paragraph``):
# markdown-it's list rule makes two thirds of its tokens and time, for structure that a
# marker and an indentation tell as well.
_MD = MarkdownIt("commonmark").disable(
    ["inline", "text_join", "reference", "lheading", "hr", "list"]
)
_MAX_NESTING = _MD.options.maxNesting  # list items opened by one line, as markdown-it's blocks
# A list item's marker: "- ", "* ", "+ ", "1. ", "2) " (or the marker alone).
_ITEM_RE = re.compile(r"(?P<indent> *)(?:[-*+]|(?P<number>\d{1,9})(?P<delimiter>[.)]))(?: +|$)")


@dataclass
class _Item:
    """The first paragraph of a list item, or a later paragraph of one, being read."""

    line: int
    marker: str  # "" for a bullet item, "1. " for a numbered one: kept in the text
    new_bullet: bool  # a top-level bullet item's first paragraph starts a summary bullet
    parts: list[str]  # its lines, without their indentation


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.days: list[DigestDay] = []
        self.warnings: list[str] = []
        self.day: DigestDay | None = None
        self.paper: Paper | None = None
        self.skipping = False  # inside a paper whose heading could not be read
        self.seen: set[str] = set()
        self.impossible_day: tuple[int, str] | None = None  # (line, reason) of the last one
        self.first_impossible_day: tuple[int, str] | None = None
        # Open list items, outermost first: (column their content starts at, marker).
        self.items: list[tuple[int, str]] = []

    def warn(self, line: int, reason: str) -> None:
        self.warnings.append(f"{self.source}:{line}: {reason}")

    def start_day(self, day: date) -> None:
        self.day = next((d for d in self.days if d.day == day), None)
        if self.day is None:
            self.day = DigestDay(day)
            self.days.append(self.day)
            self.seen = set()
        else:
            self.seen = {p.arxiv_id for p in self.day.papers}
        self.paper, self.skipping = None, False

    def heading(self, level: int, text: str, line: int) -> None:
        if level <= 2:
            match = _DAY_RE.search(text)
            try:
                day = date(int(match[1]), int(match[2]), int(match[3])) if match else None
            except ValueError:
                day = None
                assert match is not None  # only a match's numbers make an impossible date
                written = f"{match[1]}-{match[2]}-{match[3]}"
                self.impossible_day = (line, f"impossible date {written} in the day heading")
                self.first_impossible_day = self.first_impossible_day or self.impossible_day
                self.warn(line, f"impossible date {written}: the day's papers are skipped")
                self.day, self.paper, self.skipping = None, None, True
                return
            if day is None:
                self.warn(line, f"heading is not a day: {text[:60]!r}")
            else:
                self.impossible_day = None
                self.start_day(day)
            return
        if level != 3:
            self.warn(line, f"heading skipped: {text[:60]!r}")
            return
        self.paper, self.skipping = None, True
        link = _title_link(text)
        arxiv_id = parse_arxiv_id(link[1]) if link else None
        if link is None or arxiv_id is None:
            self.warn(line, f"paper without an arXiv link skipped: {text[:60]!r}")
            return
        raw_title, link_url = link
        title = clean_title(raw_title)
        if self.day is None and self.impossible_day is not None:
            return  # under a day heading with an impossible date (warned there)
        if self.day is None:
            fallback = _date_from_source(self.source)
            if fallback is None:
                self.warn(line, "paper before any '## Daily Papers (date)' heading skipped")
                return
            self.warn(line, f"no day heading; using {fallback} from the file name")
            self.start_day(fallback)
            self.skipping = True
        assert self.day is not None
        if arxiv_id in self.seen:
            self.warn(line, f"paper {arxiv_id} appears twice in the day; the first is kept")
            return
        if not title:
            title = arxiv_id
        url = link_url if web_url(link_url) else arxiv_url(arxiv_id)
        self.paper = Paper(arxiv_id=arxiv_id, title=title, url=url, line=line)
        self.seen.add(arxiv_id)
        self.day.papers.append(self.paper)
        self.skipping = False

    def text_line(self, text: str, line: int) -> None:
        """One line of a paragraph or HTML block between a paper's heading and its bullets."""
        text = text.strip()
        if not text or self.skipping or _RULE_RE.match(text):
            return
        if self.paper is None:
            self.warn(line, f"line outside any paper skipped: {text[:60]!r}")
            return
        media_match = (
            _IMAGE_RE.match(text)
            or _WATCH_RE.match(text)
            or ("<" in text and _VIDEO_TAG_RE.search(text))
        )
        if media_match:
            media = media_for(media_match[1])
            if media is None:
                self.warn(line, f"media link skipped (not http or https): {text[:60]!r}")
            # One media per paper: a video beats the thumbnail that usually precedes it.
            elif self.paper.media is None or (
                media.kind is MediaKind.VIDEO and self.paper.media.kind is MediaKind.IMAGE
            ):
                self.paper.media = media
        elif match := _VOTE_RE.match(text):
            self.paper.votes = parse_votes(match[1])
            if self.paper.votes is None and match[1].strip() not in ("", "-"):
                self.warn(line, f"vote is not a count, stored as none: {match[1].strip()[:30]!r}")
        elif match := _AUTHORS_RE.match(text):
            self.paper.authors.extend(
                a for a in parse_authors(match[1]) if a not in self.paper.authors
            )
        elif text.startswith("<"):
            return  # closing tags and wrappers of a video block
        elif self.paper.summary:
            self.continue_bullet(text)
        else:
            self.warn(line, f"unrecognised line skipped: {clean_text(text)[:60]!r}")

    def bullet(self, text: str, line: int) -> None:
        if self.skipping:
            return
        if self.paper is None:
            self.warn(line, f"bullet outside any paper skipped: {clean_text(text)[:60]!r}")
            return
        bullet = parse_bullet(text)
        if bullet.text:
            self.paper.summary.append(bullet)

    def continue_bullet(self, text: str) -> None:
        """Join a continuation line (indented, numbered, or glued) to the last bullet."""
        assert self.paper is not None
        text = clean_text(text)
        if not text:
            return
        last = self.paper.summary[-1]
        self.paper.summary[-1] = Bullet(text=f"{last.text} {text}", key=last.key)

    def paragraph(self, lines: Sequence[tuple[int, str]]) -> None:
        """The lines (number, text with its indentation) of one paragraph, read as CommonMark
        reads lists: an item's first paragraph, lazy lines included, is one text; a top-level
        ``- `` item starts a summary bullet, and numbered or nested items and an item's later
        paragraphs continue it. Lines outside any list are read one by one."""
        item: _Item | None = None
        for index, (number, raw) in enumerate(lines):
            text = raw.lstrip(" ")
            indent = len(raw) - len(text)
            if _RULE_RE.match(text):  # also ends the item above
                self.finish_item(item)
                item = None
            elif marker := _ITEM_RE.match(raw):
                self.finish_item(item)
                item = self.open_item(marker, raw, number)
            elif item is not None and (item.parts[0] or indent >= self.items[-1][0]):
                item.parts.append(text)  # a lazy continuation line, or an empty item's text
            elif item is None and index == 0 and self.close_items(indent):
                item = _Item(number, self.items[-1][1], False, [text])  # an item's later paragraph
            else:
                if item is not None:  # an empty item, and a line not inside it
                    self.close_items(indent)
                    item = None
                self.text_line(text, number)
        self.finish_item(item)

    def close_items(self, indent: int) -> bool:
        """Close the list items a block at ``indent`` is not inside; is it inside one?"""
        while self.items and indent < self.items[-1][0]:
            self.items.pop()
        return bool(self.items)

    def open_item(self, marker: re.Match[str], raw: str, number: int) -> _Item:
        """An item whose marker starts ``raw`` (or, when its text starts with another marker,
        the item nested in it: ``- 2) text``)."""
        self.close_items(len(marker["indent"]))
        new_bullet = not self.items and not marker["number"]
        for _depth in range(_MAX_NESTING):
            text = raw[marker.end() :]
            after = marker.end("delimiter") if marker["number"] else marker.end("indent") + 1
            spaces = marker.end() - after
            # Content starts after the marker and its spaces (one, if more than four or none).
            column = after + (spaces if 1 <= spaces <= 4 and text else 1)
            label = f"{marker['number']}{marker['delimiter']} " if marker["number"] else ""
            self.items.append((column, label))
            nested = _ITEM_RE.match(raw, marker.end())
            if nested is None or _RULE_RE.match(text):
                break
            marker, new_bullet = nested, False
        return _Item(number, label, new_bullet, [text.strip()])  # deeper markers are text

    def finish_item(self, item: _Item | None) -> None:
        if item is None:
            return
        text = " ".join(p for p in item.parts if p)
        if not text:
            return
        has_bullet = self.paper is not None and self.paper.summary
        if item.new_bullet or not has_bullet:
            self.bullet(item.marker + text, item.line)
        elif not self.skipping:
            self.continue_bullet(item.marker + text)

    def finish(self) -> Digest:
        for day in self.days:
            for paper in day.papers:
                if not paper.summary:
                    self.warn(paper.line, f"paper {paper.arxiv_id} has no summary")
        days = [d for d in self.days if d.papers]
        return Digest(self.source, days, self.warnings)


def _walk(parser: _Parser, tokens: list[Token], source: list[str]) -> None:
    quoted = 0  # inside a blockquote, lines are its content, without the "> "
    for index, token in enumerate(tokens):
        kind = token.type
        if kind in _PASSIVE_TOKENS:
            continue
        start = token.map[0] if token.map else 0
        if kind == "inline":
            if tokens[index - 1].type == "paragraph_open":  # else a heading's, read with it
                parser.paragraph(list(_token_lines(token, source, quoted)))
        elif kind == "heading_open":
            parser.items.clear()
            inline = tokens[index + 1]
            parser.heading(int(token.tag[1]), clean_text(inline.content), start + 1)
        elif kind in ("code_block", "html_block"):
            lines = list(_token_lines(token, source, quoted))
            in_item = parser.close_items(_indent(lines[0][1]) if lines else 0)
            if kind == "code_block" and in_item:
                # Indented lines inside a list item: its later paragraphs, or nested items.
                for paragraph in _paragraphs(lines):
                    parser.paragraph(paragraph)
                continue
            for number, text in lines:
                if kind == "code_block" and parser.paper is not None and parser.paper.summary:
                    if not parser.skipping:
                        parser.continue_bullet(text)
                else:
                    parser.text_line(text, number)
        elif kind == "fence":
            parser.close_items(_indent(source[start]) if not quoted else 0)
            parser.warn(start + 1, "code block skipped")
        elif kind in ("blockquote_open", "blockquote_close"):
            parser.items.clear()
            quoted += 1 if kind == "blockquote_open" else -1


_PASSIVE_TOKENS = frozenset({"paragraph_open", "paragraph_close", "heading_close"})


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _token_lines(token: Token, source: list[str], quoted: int) -> Iterator[tuple[int, str]]:
    """A block's lines with their numbers; at top level, as written (indentation kept)."""
    start, end = token.map or (0, 0)
    texts = token.content.split("\n") if quoted else source[start:end]
    for offset, text in enumerate(texts):
        yield start + 1 + offset, text


def _paragraphs(lines: list[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    """Split lines at blank ones."""
    paragraph: list[tuple[int, str]] = []
    for number, text in lines:
        if text.strip():
            paragraph.append((number, text))
        elif paragraph:
            yield paragraph
            paragraph = []
    if paragraph:
        yield paragraph


def parse_digest(text: str, source: str = "<text>") -> Digest:
    """Parse a digest's text; raise :class:`DigestError` if it holds no paper at all."""
    # Tabs would turn lines into code blocks; a digest never means that.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    # markdown-it replaces NUL too: the source lines read below are the ones it parsed.
    text = unicodedata.normalize("NFC", text.replace("\0", "\ufffd"))
    parser = _Parser(source)
    try:
        tokens = _MD.parse(text)
    except RecursionError as exc:  # pathological nesting
        raise DigestError(source, "nesting too deep to read") from exc
    _walk(parser, tokens, text.split("\n"))
    digest = parser.finish()
    if not digest.days:
        if parser.first_impossible_day is not None:
            line, reason = parser.first_impossible_day
            raise DigestError(source, reason, line, digest.warnings)
        reason = "no paper found (expected '### [Title](https://arxiv.org/abs/ID)')"
        raise DigestError(source, reason, None, digest.warnings)
    return digest
