"""Digest schedules ("instant", "hourly", "daily 08:00", "weekly mon 08:00", five-field cron)
and their next run time, computed in the user's time zone from a `now` the caller passes in."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
         "dim": 0, "lun": 1, "mar": 2, "mer": 3, "jeu": 4, "ven": 5, "sam": 6}
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS))
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Schedule:
    text: str
    instant: bool = False
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()  # 0 = Sunday
    days_restricted: bool = False
    weekdays_restricted: bool = False

    def _day_matches(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow  # as in every cron since Vixie's
        return dom and dow

    def next_after(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """The first run strictly after `now` (aware), in UTC; None for "instant"."""
        if self.instant:
            return None
        local = now.astimezone(tz).replace(second=0, microsecond=0, tzinfo=None)
        start = local + timedelta(minutes=1)
        day = start.date()
        for _ in range(366 * 8):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime.combine(day, time(hour, minute))
                        if candidate < start:
                            continue
                        aware = candidate.replace(tzinfo=tz)
                        # a wall time skipped by a DST jump does not exist: skip it
                        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != candidate:
                            continue
                        return aware.astimezone(UTC)
            day += timedelta(days=1)
        return None


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    out: set[int] = set()
    for part in text.lower().split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{name}: bad step {step_text!r}")
            step = int(step_text)
        if part == "*":
            first, last = low, high
        else:
            bounds = part.split("-", 1)
            try:
                values = [names[b] if b in names else int(b) for b in bounds]
            except ValueError:
                raise ValueError(f"{name}: {part!r} is not a number") from None
            first, last = values[0], values[-1] if len(values) > 1 or step == 1 else high
            if not (low <= first <= high and low <= last <= high) or first > last:
                raise ValueError(f"{name}: {part!r} is outside {low}-{high}")
        out.update(range(first, last + 1, step))
    return out


def parse_cron(text: str) -> Schedule:
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(f"expected 5 cron fields, got {len(parts)}")
    values = [_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = {d % 7 for d in values[4]}
    return Schedule(text, minutes=frozenset(values[0]), hours=frozenset(values[1]),
                    days=frozenset(values[2]), months=frozenset(values[3]),
                    weekdays=frozenset(weekdays), days_restricted=parts[2] != "*",
                    weekdays_restricted=parts[4] != "*")


def parse_schedule(text: str) -> Schedule:
    """Raises ValueError with a message meant for the user."""
    words = text.strip().lower().split()
    try:
        if words == ["instant"]:
            return Schedule(text, instant=True)
        if words == ["hourly"]:
            return replace(parse_cron("0 * * * *"), text=text)
        if len(words) == 2 and words[0] == "daily" and (m := _HHMM.match(words[1])):
            return replace(parse_cron(f"{int(m[2])} {int(m[1])} * * *"), text=text)
        if len(words) == 3 and words[0] == "weekly" and words[1][:3] in _DAYS and (
                m := _HHMM.match(words[2])):
            return replace(parse_cron(f"{int(m[2])} {int(m[1])} * * {words[1][:3]}"),
                           text=text)
        if len(words) == 5:
            return parse_cron(text)
    except ValueError as e:
        raise ValueError(f"{text!r}: {e}") from None
    raise ValueError(f'{text!r}: expected "instant", "hourly", "daily 08:00", '
                     '"weekly mon 08:00" or a five-field cron expression')
