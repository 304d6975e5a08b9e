"""What a delivery pass did, counted: for the operator who asked, and for the log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from bot.i18n import N_, _, speaking


@dataclass
class PassReport:
    day: date | None = None
    chats: int = 0
    messages: int = 0
    already: int = 0
    empty: int = 0
    deactivated: int = 0
    migrated: int = 0
    postponed: int = 0  # left for the next pass (shutdown, network trouble, flood waits)
    busy: int = 0  # another pass is sending to them right now
    looked_again: int = 0  # held by another pass; looked at again once its claims could lapse
    unsure: int = 0  # a message went out without an answer: the next pass repeats it once
    failed: int = 0  # Telegram refused the day for good (bounded tries)
    shared: int = 0  # sent by other instances that joined the pass
    delivered_to: list[int] = field(default_factory=list)
    handled: list[int] = field(default_factory=list)  # chats this day is settled for
    busy_chats: list[int] = field(default_factory=list)

    def then(self, later: PassReport) -> None:
        """Add a second look at this pass's busy chats to this report."""
        for name in ADDED_UP:
            setattr(self, name, getattr(self, name) + getattr(later, name))
        self.busy, self.busy_chats = later.busy, later.busy_chats

    def summary(self) -> str:
        """One line for operators: the day, the chats, and every counter that is not zero."""
        counts = {
            "sent": len(self.delivered_to),
            "shared": self.shared,
            "already": self.already,
            "empty": self.empty,
            "deactivated": self.deactivated,
            "migrated": self.migrated,
            "looked_again": self.looked_again,
            "busy": self.busy,
            "failed": self.failed,
            "postponed": self.postponed,
        }
        parts = [_("{day}: {count} chats").format(day=self.day, count=self.chats)]
        parts += [
            _(COUNTERS[name]).format(count=count, messages=self.messages)
            for name, count in counts.items()
            if count
        ]
        return " · ".join(parts)

    def log_line(self) -> str:
        """The summary as the log has it: in English, whoever asked for the pass."""
        with speaking("en"):
            return self.summary()


ADDED_UP = (  # what a second look adds to a report (what is still busy, it replaces)
    "messages", "already", "empty", "deactivated", "migrated", "postponed", "unsure", "failed",
    "shared", "delivered_to", "handled",
)  # fmt: skip
COUNTERS = {
    "sent": N_("sent to {count} ({messages} messages)"),
    "shared": N_("sent by other instances {count}"),
    "already": N_("had it already {count}"),
    "empty": N_("nothing for them {count}"),
    "deactivated": N_("stopped (blocked or removed) {count}"),
    "migrated": N_("moved to a supergroup {count}"),
    "looked_again": N_("looked at again once another pass's claims lapsed {count}"),
    "busy": N_("another pass is on them {count}"),
    "failed": N_("refused for good {count}"),
    "postponed": N_("left for later {count}"),
}
