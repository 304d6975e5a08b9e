"""A digest's text → days → papers: the block structure from markdown-it, each line read on its own.

Only the block structure is parsed by markdown-it (headings, paragraphs, HTML and code
blocks, with their source lines); a heading starts a day or a paper, and each line of a
paragraph is a media link, a vote, the authors, or (through :class:`~bot.digest.lists.Lists`)
a summary point.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.digest.fields import (
    RULE_RE,
    arxiv_url,
    clean_text,
    clean_title,
    media_for,
    parse_arxiv_id,
    parse_authors,
    parse_bullet,
    parse_votes,
    title_link,
    web_url,
)
from bot.digest.lists import Lists
from bot.digest.model import (
    MAX_FILE_BYTES,
    Bullet,
    Digest,
    DigestDay,
    DigestError,
    MediaKind,
    Paper,
)

_DAY_RE = re.compile(r"Daily Papers\s*\(\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*\)", re.I)


_PATH_DATE_RE = re.compile(r"(\d{4})[/_-](\d{2})[/_-](\d{2})(?:\.md)?$")


_IMAGE_RE = re.compile(r"^!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


_WATCH_RE = re.compile(r"^\[Watch Video\]\s*\(?\s*(\S+?)\s*\)?$", re.I)


_VIDEO_TAG_RE = re.compile(r"<(?:video|source)\b[^<>]*?\bsrc\s*=\s*[\"']?([^\"'\s>]+)", re.I)


_VOTE_RE = re.compile(r"^Votes?\s*:\s*(.*)$", re.I)


_AUTHORS_RE = re.compile(r"^Authors?\s*:\s*(.*)$", re.I)


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


_MAX_NESTING = _MD.options.maxNesting


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
        self.lists = Lists(self, _MAX_NESTING)

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
        link = title_link(text)
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
        if not text or self.skipping or RULE_RE.match(text):
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

    def list_item(self, text: str, line: int, new_bullet: bool) -> None:
        """A list item's paragraph: a new summary bullet, or more of the last one."""
        has_bullet = self.paper is not None and self.paper.summary
        if new_bullet or not has_bullet:
            self.bullet(text, line)
        elif not self.skipping:
            self.continue_bullet(text)

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
                parser.lists.paragraph(list(_token_lines(token, source, quoted)))
        elif kind == "heading_open":
            parser.lists.items.clear()
            inline = tokens[index + 1]
            parser.heading(int(token.tag[1]), clean_text(inline.content), start + 1)
        elif kind in ("code_block", "html_block"):
            lines = list(_token_lines(token, source, quoted))
            in_item = parser.lists.close(_indent(lines[0][1]) if lines else 0)
            if kind == "code_block" and in_item:
                # Indented lines inside a list item: its later paragraphs, or nested items.
                for paragraph in _paragraphs(lines):
                    parser.lists.paragraph(paragraph)
                continue
            for number, text in lines:
                if kind == "code_block" and parser.paper is not None and parser.paper.summary:
                    if not parser.skipping:
                        parser.continue_bullet(text)
                else:
                    parser.text_line(text, number)
        elif kind == "fence":
            parser.lists.close(_indent(source[start]) if not quoted else 0)
            parser.warn(start + 1, "code block skipped")
        elif kind in ("blockquote_open", "blockquote_close"):
            parser.lists.items.clear()
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
