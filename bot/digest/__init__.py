"""Digest files → days → papers. Pure parsing: no Telegram, no SQL.

A digest is Markdown: ``## Daily Papers (YYYY-MM-DD)`` starts a day and
``### [Title](https://arxiv.org/abs/ID)`` a paper, followed by optional media, ``Vote:``,
``Authors:`` and ``- `` bullets of Korean summary. markdown-it-py gives the block structure
(headings, paragraphs, HTML blocks, with their source lines); each line inside is then
recognised on its own, list items by their marker and indentation, as CommonMark reads
them. Real files drift, so an unknown line is skipped with a warning, and one odd paper
never costs the rest of the file. :class:`DigestError` is the only exception raised.
"""

from bot.digest.fields import (
    MAX_VOTES,
    MEDIA_BASE_URL,
    NAME_MARKUP,
    VIDEO_EXTENSIONS,
    arxiv_url,
    clean_text,
    clean_title,
    media_for,
    parse_arxiv_id,
    parse_authors,
    parse_bullet,
    parse_votes,
    web_url,
)
from bot.digest.model import (
    MAX_FILE_BYTES,
    MAX_ID_LENGTH,
    Bullet,
    Digest,
    DigestDay,
    DigestError,
    Media,
    MediaKind,
    Paper,
)
from bot.digest.reader import (
    decode_digest,
    parse_digest,
    read_digest,
    shown_path,
)

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_ID_LENGTH",
    "MAX_VOTES",
    "MEDIA_BASE_URL",
    "NAME_MARKUP",
    "VIDEO_EXTENSIONS",
    "Bullet",
    "Digest",
    "DigestDay",
    "DigestError",
    "Media",
    "MediaKind",
    "Paper",
    "arxiv_url",
    "clean_text",
    "clean_title",
    "decode_digest",
    "media_for",
    "parse_arxiv_id",
    "parse_authors",
    "parse_bullet",
    "parse_digest",
    "parse_votes",
    "read_digest",
    "shown_path",
    "web_url",
]
