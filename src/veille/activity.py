"""What the daemon did lately, told in one log line a minute at most, and only when something
happened; and a feed's trouble told when it starts and when it ends, not at every retry.

A steady state of healthy feeds must not bury the lines that matter: 1,000 feeds polled every
20 s write no line at all once their news is stored, and a feed that fails for a week writes
two (its first failure, its recovery), not one per poll.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from .models import FeedOutcome
from .outcomes import OutcomeStatus


class Change(NamedTuple):
    """A line worth logging on its own: a feed began failing (a warning) or came back."""

    failing: bool
    line: str


@dataclass
class Activity:
    polled: int = 0
    new_entries: int = 0
    new_matches: int = 0
    changes: int = 0  # feeds that began failing or recovered in this period
    failing: set[str] = field(default_factory=set)  # feeds that failed in this period
    told_failing: set[str] = field(default_factory=set)  # failing, until they recover
    told_moved: set[str] = field(default_factory=set)

    def known_failing(self, urls: Iterable[str]) -> None:
        """Feeds already failing at start: their trouble is not news again after a restart."""
        self.told_failing.update(urls)

    def add(self, outcome: FeedOutcome) -> list[Change]:
        """Count one poll; return what changed for the feed (usually nothing)."""
        self.polled += 1
        self.new_entries += outcome.new_entries
        self.new_matches += outcome.new_matches
        url = outcome.url
        out = []
        if outcome.failing:
            self.failing.add(url)
            if url not in self.told_failing:
                self.told_failing.add(url)
                self.changes += 1
                out.append(Change(True, f"feed {url} {outcome.status}: {outcome.message} "
                                        "(logged again when it recovers)"))
        elif outcome.status in (OutcomeStatus.OK, OutcomeStatus.UNCHANGED) and \
                url in self.told_failing:
            self.told_failing.discard(url)
            self.changes += 1
            out.append(Change(False, f"feed {url} recovered"))
        if outcome.moved_to and url not in self.told_moved:
            self.told_moved.add(url)
            out.append(Change(True, f"feed {url} moved permanently to {outcome.moved_to} "
                                    f"(run: veille feeds move {url} {outcome.moved_to})"))
        return out

    def flush(self) -> str | None:
        """The line for the period just ended (None when nothing new happened), and reset.

        Feeds that go on failing are counted, but are not news by themselves."""
        line = None
        if self.new_entries or self.new_matches or self.changes:
            line = (f"{self.polled} feeds polled in the last minute: {self.new_entries} new "
                    f"entries, {self.new_matches} new matches, {len(self.failing)} failing")
        self.polled = self.new_entries = self.new_matches = self.changes = 0
        self.failing.clear()
        return line
