"""Working-day arithmetic on the Chinese calendar (holidays and 调休 make-up weekends).

Every day is identified by its proleptic ordinal (``date.toordinal()``; ordinal 1 is a Monday), so
the number of Monday–Friday days up to an ordinal is plain arithmetic.  The official exceptions to
that weekday rule sit in a sorted list with prefix sums, which makes counting and adding working
days O(log E) (E ≈ 20 exceptions per year) whatever the number of days involved: deadlines for a
million rows can be recomputed without walking day by day.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from engine.clock.notice import CalendarNotice

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The deadline is the *inclusive* last instant of the day: it still shows the right local date when
# formatted, and a case is overdue only when ``now > deadline``.
END_OF_DAY = time(23, 59, 59, 999999)


# NamedTuples rather than dataclasses: they are immutable, cost less to build for bulk recomputation,
# and unpack as the ``(value, provisional)`` pairs callers expect.
class DayResult(NamedTuple):
    """A computed day and whether it relies on unconfirmed calendar years."""

    day: date
    provisional: bool


class CountResult(NamedTuple):
    """A number of working days and whether it relies on unconfirmed calendar years."""

    days: int
    provisional: bool


class DeadlineResult(NamedTuple):
    """A deadline instant (aware, UTC) and whether it relies on unconfirmed calendar years."""

    at: datetime
    provisional: bool


def _weekdays_through(o: int) -> int:
    """Count Monday–Friday ordinals in [1, o]."""
    q, r = divmod(o, 7)
    return 5 * q + min(r, 5)


def _first_with_weekdays(t: int) -> int:
    """Return the smallest ordinal o with ``_weekdays_through(o) >= t`` (always a Monday–Friday)."""
    q, r = divmod(t, 5)
    return 7 * q + r if r else 7 * q - 2


class WorkingCalendar:
    """Mon–Fri working days corrected by official exceptions; years after ``confirmed_through`` are provisional."""

    def __init__(
        self,
        exceptions: Mapping[date, bool],
        confirmed_through: int,
        version: int,
        *,
        pending_years: Iterable[int] = (),
    ):
        # Entries restating the weekday rule ({Saturday: False}) are dropped: the arithmetic below relies
        # on every stored exception flipping the day.
        self._exc: dict[int, bool] = {
            d.toordinal(): bool(w) for d, w in exceptions.items() if bool(w) == (d.weekday() >= 5)
        }
        self.confirmed_through = confirmed_through
        self.version = version
        # Years imported from notices beyond a gap after confirmed_through (e.g. 2028 before 2027): used,
        # but not yet confirmed, so results stay provisional until the gap is filled.
        self.pending_years = frozenset(y for y in pending_years if y > confirmed_through)
        self._limit = date(confirmed_through + 1, 1, 1).toordinal()
        self._ords = sorted(self._exc)
        # _prefix[k]: net effect of the first k exceptions; _w_at[k]: working days through exception k.
        self._prefix = [0]
        for o in self._ords:
            self._prefix.append(self._prefix[-1] + (1 if self._exc[o] else -1))
        self._w_at = [_weekdays_through(o) + self._prefix[k + 1] for k, o in enumerate(self._ords)]

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(version={self.version}, confirmed_through={self.confirmed_through}, "
            f"exceptions={len(self._ords)}, pending_years={sorted(self.pending_years)})"
        )

    @property
    def exceptions(self) -> Mapping[date, bool]:
        """Return the exceptions to the weekday rule (True = make-up workday, False = weekday holiday)."""
        return MappingProxyType({date.fromordinal(o): self._exc[o] for o in self._ords})

    def _working_through(self, o: int) -> int:
        """Count working days in [1, o]; differences of this give counts over any range."""
        return _weekdays_through(o) + self._prefix[bisect_right(self._ords, o)]

    def is_working_day(self, d: date) -> bool:
        """Return True when ``d`` is a working day (weekday rule beyond the published data)."""
        o = d.toordinal()
        w = self._exc.get(o)
        return (o - 1) % 7 < 5 if w is None else w

    def add_working_days(self, start: date, n: int) -> DayResult:
        """Return the n-th working day after ``start`` (start not counted); n = 0 returns ``start`` itself."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        o = start.toordinal()
        if n:
            target = self._working_through(o) + n
            # The answer lies after the last exception already reaching target - 1 and at or before the
            # first exception reaching target; between two exceptions only the weekday rule applies.
            j = bisect_left(self._w_at, target)
            o = _first_with_weekdays(target - self._prefix[j])
            if j < len(self._ords) and o >= self._ords[j]:
                o = self._ords[j]
        return DayResult(date.fromordinal(o), o >= self._limit)

    def next_working_day(self, d: date) -> DayResult:
        """Return the first working day strictly after ``d``."""
        return self.add_working_days(d, 1)

    def working_days_between(self, a: date, b: date) -> CountResult:
        """Count working days in (a, b]; negative (minus the count in (b, a]) when b < a."""
        oa, ob = a.toordinal(), b.toordinal()
        count = self._working_through(ob) - self._working_through(oa)
        return CountResult(count, max(oa, ob) >= self._limit)

    def deadline_at(self, start: date, n: int) -> DeadlineResult:
        """Return the end (23:59:59.999999 Shanghai, as aware UTC) of the n-th working day after ``start``."""
        day, provisional = self.add_working_days(start, n)
        local = datetime.combine(day, END_OF_DAY, tzinfo=SHANGHAI)
        return DeadlineResult(local.astimezone(UTC), provisional)

    def with_notice(self, notice: CalendarNotice) -> WorkingCalendar:
        """Return a new calendar (version + 1) with ``notice`` as the complete arrangement of its year."""
        # A notice states the whole year, so it replaces whatever that year held (this is also how an
        # amended notice for an already confirmed year is imported).
        merged = {d: w for d, w in self.exceptions.items() if d.year != notice.year}
        merged.update(dict.fromkeys(notice.holidays, False))
        merged.update(dict.fromkeys(notice.workdays, True))
        pending = set(self.pending_years) | {notice.year}
        confirmed = self.confirmed_through
        while confirmed + 1 in pending:
            confirmed += 1
        return WorkingCalendar(merged, confirmed, self.version + 1, pending_years=pending)
