"""Digest schedules ("instant", "hourly", "daily 08:00", "weekly mon 08:00", five-field cron)
and their next run time, computed in the user's time zone from a `now` the caller passes in."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
         "dim": 0, "lun": 1, "mar": 2, "mer": 3, "jeu": 4, "ven": 5, "sam": 6}
#: Days written in full in "weekly …" (their first three letters are the cron names above).
_FULL_DAYS = {"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
              "dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"}
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
        """The first run strictly after `now` (aware), in UTC; None for "instant".

        Clock changes, as cron has them: a wall time the spring jump skips runs the hour
        after (02:30 at 03:30), not never; a wall time the autumn repeats runs once, at its
        first pass, unless the schedule runs every hour (then both passes are hours of their
        own). Whatever the clocks do, the answer is after `now`: a slot already past, taken
        again, would run a digest in a loop."""
        if self.instant:
            return None
        after = now.astimezone(UTC)
        day = now.astimezone(tz).date()
        every_hour = len(self.hours) == 24
        for _ in range(366 * 8):
            if self._day_matches(day):
                runs = [run for hour in self.hours for minute in self.minutes
                        for run in _instants(datetime.combine(day, time(hour, minute)), tz,
                                             every_hour) if run > after]
                if runs:
                    return min(runs)
            day += timedelta(days=1)
        return None


def _instants(wall: datetime, tz: ZoneInfo, both_passes: bool) -> tuple[datetime, ...]:
    """The UTC instants a naive local wall time stands for: one, two in the hour the autumn
    repeats (the first only unless `both_passes`), or, in the hour the spring skips, the
    instant as if the clocks had not moved yet (an hour later on the new clock)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if first == second:
        return (first,)
    if first.astimezone(tz).replace(tzinfo=None) != wall:  # skipped by the spring jump
        return (first,)
    return (first, second) if both_passes else (first,)


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
            if not (low <= first <= high and low <= last <= high):
                raise ValueError(f"{name}: {part!r} is outside {low}-{high}")
            if first > last and name == "day of week":  # fri-mon: round the weekend
                out.update(range(first, high + 1, step))
                first = low
            elif first > last:
                raise ValueError(f"{name}: {part!r} goes backwards")
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


def _weekdays(text: str) -> str:
    """"lun-ven", "mon,wed", "vendredi" as a cron day-of-week field ("lun-ven"): each day a
    three-letter name or a full one, in English or French. Anything else is refused: read
    by its first three letters, "lun-ven" was once Monday alone, and "samplers" Saturday."""
    parts = []
    for part in text.split(","):
        bounds = part.split("-")
        if len(bounds) > 2 or not all(b in _DAYS or b in _FULL_DAYS for b in bounds):
            raise ValueError(f"{part!r} is not a day, a list (mon,wed) or a range (lun-ven) "
                             "of days")
        parts.append("-".join(b[:3] for b in bounds))
    return ",".join(parts)


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
        if len(words) == 3 and words[0] == "weekly" and (m := _HHMM.match(words[2])):
            return replace(parse_cron(f"{int(m[2])} {int(m[1])} * * {_weekdays(words[1])}"),
                           text=text)
        if len(words) == 5:
            return parse_cron(text)
    except ValueError as e:
        raise ValueError(f"{text!r}: {e}") from None
    raise ValueError(f'{text!r}: expected "instant", "hourly", "daily 08:00", '
                     '"weekly mon 08:00" or a five-field cron expression')
