"""SQLAlchemy models: papers, the days they appeared on, authors, subscriptions, deliveries.

The same schema serves SQLite and PostgreSQL. The full-text index lives beside these tables
(an FTS5 table on SQLite, a ``tsvector`` column with GIN on PostgreSQL) and is created in
:mod:`bot.store.db`.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.digest import MAX_ID_LENGTH as ARXIV_ID_LENGTH
from bot.digest import MediaKind

# Range scans over words must compare code points; PostgreSQL's default collation may not.
BinaryString = String(64).with_variant(String(64, collation="C"), "postgresql")


class Base(DeclarativeBase):
    pass


class Paper(Base):
    __tablename__ = "paper"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arxiv_id: Mapped[str] = mapped_column(String(ARXIV_ID_LENGTH), unique=True)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON, comment="author names in file order")
    summary: Mapped[list[list[str | None]]] = mapped_column(
        JSON, comment="bullets as [key or null, text]"
    )
    media_kind: Mapped[MediaKind | None] = mapped_column(
        Enum(MediaKind, native_enum=False, length=8)
    )
    media_url: Mapped[str | None] = mapped_column(Text)
    latest_day: Mapped[date] = mapped_column(Date, index=True)
    search_key: Mapped[int] = mapped_column(
        BigInteger,
        index=True,
        comment="recency rank (newest day, then file position): the search index's row id",
    )
    search_text: Mapped[str] = mapped_column(
        Text, comment="folded title, authors and summary, separated by U+001F, for scans"
    )


class DigestDay(Base):
    __tablename__ = "digest_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(Text, comment="file the day was last loaded from")
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Entry(Base):
    """One paper's appearance on one day, with that day's votes."""

    __tablename__ = "digest_entry"

    day: Mapped[date] = mapped_column(
        ForeignKey("digest_day.day", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("paper.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, comment="0-based order in the file")
    votes: Mapped[int | None] = mapped_column(Integer)


class PaperAuthor(Base):
    __tablename__ = "paper_author"

    paper_id: Mapped[int] = mapped_column(
        ForeignKey("paper.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    folded: Mapped[str] = mapped_column(Text, comment="lower-case, accents removed")


class AuthorWord(Base):
    """Each word of each folded author name: the index behind ``/author``."""

    __tablename__ = "author_word"

    word: Mapped[str] = mapped_column(BinaryString, primary_key=True)
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("paper.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)


class ChatType(StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"


class StopReason(StrEnum):
    """Why a subscription is no longer active."""

    UNSUBSCRIBED = "unsubscribed"
    BLOCKED = "blocked"  # 403, or the bot was removed
    NO_RIGHTS = "no_rights"  # the bot may not post there (after a few tries)
    MIGRATED = "migrated"  # the group became a supergroup that had its own subscription


class Every(StrEnum):
    """How often a chat's digest comes."""

    DAILY = "daily"
    WEEKLY = "weekly"  # the past 7 days' top papers, on one weekday


class Subscription(Base):
    __tablename__ = "subscription"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    chat_type: Mapped[ChatType] = mapped_column(Enum(ChatType, native_enum=False, length=16))
    title: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True, index=True)
    send_time: Mapped[str] = mapped_column(String(5), comment="HH:MM in the chat's time zone")
    timezone: Mapped[str] = mapped_column(String(64))
    top_n: Mapped[int] = mapped_column(Integer)
    min_votes: Mapped[int] = mapped_column(Integer, default=0)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_slot_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), comment="the latest daily slot already handled (UTC)"
    )
    stopped_reason: Mapped[StopReason | None] = mapped_column(
        Enum(StopReason, native_enum=False, length=16), comment="why it is inactive"
    )
    every: Mapped[Every] = mapped_column(
        Enum(Every, native_enum=False, length=8), default=Every.DAILY, server_default="DAILY"
    )
    weekday: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", comment="weekly digests: 0 = Monday … 6 = Sunday"
    )


class ChatLanguage(Base):
    """The language a chat is spoken to in. ``chosen``: set with ``/settings lang``, and it
    then wins over each user's own language; otherwise the language of whoever subscribed
    the chat, which only its digests and alerts use."""

    __tablename__ = "chat_language"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    lang: Mapped[str] = mapped_column(String(8))
    chosen: Mapped[bool] = mapped_column(default=False)


class DeliveryStatus(StrEnum):
    SENDING = "sending"  # parts_sent tells how far it got; the next part was never accepted
    UNSURE = "unsure"  # part parts_sent went out, but Telegram's answer never came
    REPEATING = "repeating"  # that part is being sent its one extra time
    SENT = "sent"
    EMPTY = "empty"  # the chat's filters left nothing to send
    FAILED = "failed"  # Telegram kept refusing it (bounded tries); not sent


OPEN_STATUSES = (DeliveryStatus.SENDING, DeliveryStatus.UNSURE, DeliveryStatus.REPEATING)


class DeliveryKind(StrEnum):
    """What a delivery row sends: a chat receives each (kind, day) once."""

    DAILY = "daily"  # the digest of ``day``
    WEEKLY = "weekly"  # the weekly digest posted on ``day`` (the chat's local date)
    ALERT = "alert"  # the follow and watch alert for the papers ``day`` added


class Delivery(Base):
    """A digest or alert to one chat: the record that makes delivery exactly-once."""

    __tablename__ = "delivery"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[DeliveryKind] = mapped_column(
        Enum(DeliveryKind, native_enum=False, length=8), primary_key=True, server_default="DAILY"
    )
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=16)
    )
    parts_total: Mapped[int] = mapped_column(Integer, default=0)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    lease_owner: Mapped[str | None] = mapped_column(
        String(40), comment="the delivery pass that holds the claim now"
    )
    lease_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="the claim may be taken over after this (UTC)"
    )
    attempts: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", comment="passes Telegram refused it in"
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    covers: Mapped[date | None] = mapped_column(
        Date, comment="weekly digests: the newest day in the window it was made of"
    )


class RuleKind(StrEnum):
    FOLLOW = "follow"  # an author, matched as /author does
    WATCH = "watch"  # words, matched as /search does


class Rule(Base):
    """A chat's followed author or watched words: newly loaded matching papers alert it."""

    __tablename__ = "alert_rule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[RuleKind] = mapped_column(Enum(RuleKind, native_enum=False, length=8))
    text: Mapped[str] = mapped_column(Text, comment="as the user typed it")
    folded: Mapped[str] = mapped_column(Text, comment="folded words, one space apart")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertQueue(Base):
    """A (day, paper) entry a load added while some chat had rules: to be matched."""

    __tablename__ = "alert_queue"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("paper.id", ondelete="CASCADE"), primary_key=True
    )
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    """A paper a chat is (or was) alerted to: the key that alerts it once only. The alert
    message of (chat, day) lists that day's rows, with why each matched."""

    __tablename__ = "alert"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("paper.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, comment="the rules it matched, as typed")


class Bookmark(Base):
    """A paper a user saved with the 🔖 button (per user, wherever they pressed it)."""

    __tablename__ = "bookmark"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("paper.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SourceFile(Base):
    """A day file of ``DIGEST_SOURCE`` as last loaded: a file is loaded again when it changes."""

    __tablename__ = "source_file"

    path: Mapped[str] = mapped_column(Text, primary_key=True, comment="relative to the source")
    sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text, comment="why it was rejected, if it was")


class SendSlot(Base):
    """The next free moment to send at, per pace, shared by instances (PostgreSQL)."""

    __tablename__ = "send_slot"

    key: Mapped[str] = mapped_column(
        String(32), primary_key=True, comment="all, paid, or g<chat id>"
    )
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), comment="first free moment")
    holder: Mapped[str | None] = mapped_column(
        String(64), comment="the instance that took the last slots"
    )
    mixed_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="several instances share this pace until then"
    )


class LeaderLease(Base):
    """Which instance runs the schedule, until when (PostgreSQL's clock): a lease the
    leader renews, taken over once it lapses (see :mod:`bot.leader`)."""

    __tablename__ = "leader_lease"

    name: Mapped[str] = mapped_column(String(16), primary_key=True, comment="what is led")
    holder: Mapped[str] = mapped_column(String(64), comment="the leading instance")
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True), comment="it lapses then")


class SeenUpdate(Base):
    """An update a webhook took: Telegram may send it again, maybe to another instance."""

    __tablename__ = "seen_update"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class SavedQuery(Base):
    """A search or author query behind paging buttons (callback data holds only its key)."""

    __tablename__ = "saved_query"

    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    used_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), index=True, comment="last saved or paged; old rows expire"
    )


Index("ix_subscription_slot", Subscription.active, Subscription.send_time, Subscription.timezone)
Index("ix_delivery_open", Delivery.kind, Delivery.status)
Index("ix_alert_rule_unique", Rule.chat_id, Rule.kind, Rule.folded, unique=True)
Index("ix_alert_chat_day", Alert.chat_id, Alert.day)


class WrittenDay(Base):
    """A day the bot wrote itself (``python -m bot write``, ``/write``, the schedule)."""

    __tablename__ = "written_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(Text, comment="the file written, as the day records it")
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    papers: Mapped[int] = mapped_column(Integer)
    korean: Mapped[int] = mapped_column(Integer, comment="papers with Korean points")
    tokens: Mapped[int] = mapped_column(Integer, comment="model tokens this write used")


class WrittenPaper(Base):
    """A paper's Korean points as the model wrote them (or none yet: English only), so that
    no paper is sent to the model twice unless its abstract changed."""

    __tablename__ = "written_paper"

    arxiv_id: Mapped[str] = mapped_column(String(ARXIV_ID_LENGTH), primary_key=True)
    abstract_sha: Mapped[str] = mapped_column(String(64), comment="sha256 of the abstract")
    points: Mapped[list[str] | None] = mapped_column(
        JSON, comment="the three Korean points; null: English only so far"
    )
    model: Mapped[str | None] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer, default=0, comment="tokens spent on it, all told")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HangulWord(Base):
    """A Korean word the archive writes (and its form without a particle): what a term
    typed joined is split back into (``확산모델`` → ``확산``, ``모델``)."""

    __tablename__ = "hangul_word"

    word: Mapped[str] = mapped_column(BinaryString, primary_key=True)
