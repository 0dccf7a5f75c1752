"""What the daemon did lately, told in one log line a minute at most, and only when something
happened: a steady state of healthy feeds must not bury the lines that matter."""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import FeedOutcome


@dataclass
class Activity:
    polled: int = 0
    new_entries: int = 0
    new_matches: int = 0
    failing: set[str] = field(default_factory=set)

    def add(self, outcome: FeedOutcome) -> None:
        self.polled += 1
        self.new_entries += outcome.new_entries
        self.new_matches += outcome.new_matches
        if outcome.failing:
            self.failing.add(outcome.url)

    def flush(self) -> str | None:
        """The line for the period just ended (None when nothing new happened), and reset."""
        line = None
        if self.new_entries or self.new_matches or self.failing:
            line = (f"{self.polled} feeds polled: {self.new_entries} new entries, "
                    f"{self.new_matches} new matches, {len(self.failing)} failing")
        self.polled = self.new_entries = self.new_matches = 0
        self.failing.clear()
        return line
