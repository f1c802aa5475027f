"""Where "now" comes from: the system clock in production, a settable clock in tests and `tick --now`."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time (UTC, timezone-aware)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """Return the wall-clock time in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until told to move, so tests can jump over a holiday without sleeping."""

    def __init__(self, start: datetime):
        self._now = _aware(start)

    def now(self) -> datetime:
        """Return the time the clock was set to."""
        return self._now

    def set(self, when: datetime) -> None:
        """Move the clock to `when`."""
        self._now = _aware(when)

    def advance(self, **delta: float) -> None:
        """Move the clock forward by a timedelta given as keyword arguments (days=…, hours=…)."""
        self._now += timedelta(**delta)


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("clock times must carry a time zone")
    return when.astimezone(UTC)
