"""When to tell systemd "still alive" (WATCHDOG=1): only while the daemon makes progress.

A process whose event loop still turns can be stuck all the same: its scheduler no longer
fires jobs, or a poll hangs past every bound we set. Pinging from a timer regardless (what a
bare `SELECT 1` before each ping amounts to) would keep such a daemon alive for ever. So a
ping needs fresh progress since the last one (a finished poll or a scheduler heartbeat), a
database that answers, and no poll running for longer than any poll can legitimately take;
otherwise systemd's WatchdogSec runs out and it restarts the service.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Watchdog:
    stall_after: float  # seconds a single feed's poll may take, all bounds added up
    progress: int = 0
    _pinged_at: int = 0  # no ping before the first sign of progress

    def made_progress(self) -> None:
        self.progress += 1

    def should_ping(self, database_answers: bool, oldest_poll: float | None) -> bool:
        if not database_answers or self.progress == self._pinged_at:
            return False
        if oldest_poll is not None and oldest_poll > self.stall_after:
            return False
        self._pinged_at = self.progress
        return True
