"""What a chat chooses, as values: a change to its settings, the slot its digest comes at,
and the stretch of days a ``/top`` covers. Parsed from what users type (:mod:`bot.arguments`), kept by the store
(:mod:`bot.store.subscriptions`), scheduled by :mod:`bot.schedule`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from zoneinfo import ZoneInfo


class Setting(StrEnum):
    """What ``/settings`` can change."""

    SEND_TIME = "send_time"  # "HH:MM"
    TOP_N = "top_n"  # int
    TIMEZONE = "timezone"  # "Area/City"
    MIN_VOTES = "min_votes"  # int
    KEYWORDS = "keywords"  # list[str]
    EVERY = "every"  # ("daily" | "weekly", weekday: 0 = Monday)
    LANG = "lang"  # "ko" | "en": the chat's language, kept apart (bot.store.languages)


@dataclass(frozen=True)
class SettingChange:
    """One ``/settings`` change: which setting, and its new value (of the type above)."""

    field: Setting
    value: object


@dataclass(frozen=True, order=True)
class Slot:
    """A digest time: local ``HH:MM`` in a time zone (one scheduled job per distinct slot)."""

    time: str
    zone: str

    @property
    def name(self) -> str:
        """The name of the slot's job."""
        return f"slot {self.zone} {self.time}"

    def local_time(self) -> dt.time:
        """The slot's time of day, carrying its zone (so daylight saving moves it)."""
        hour, minute = map(int, self.time.split(":"))
        return dt.time(hour, minute, tzinfo=ZoneInfo(self.zone))


@dataclass(frozen=True)
class Window:
    """A stretch of days for ``/top``: its first and last day, its name, its button key."""

    first: date
    last: date
    label: str
    key: str  # "w", "m" or "YYYY-MM"
