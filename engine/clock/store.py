"""The calendar as versioned rows: seeding, loading (cached per version) and importing a year's notice."""
from __future__ import annotations

from datetime import datetime
from threading import Lock

from sqlalchemy import delete, extract, insert, select
from sqlalchemy.orm import Session

from engine.clock.calendar import WorkingCalendar
from engine.clock.notice import CalendarNotice
from engine.clock.seed import load_seed, read_seed
from engine.store.db import database_key
from engine.store.models import CalendarDay, CalendarMeta
from engine.store.prepared import Prepared

_cache: dict[tuple[str, int], WorkingCalendar] = {}
_cache_lock = Lock()


def seed_calendar(session: Session, now: datetime) -> bool:
    """Load the shipped 2004–2026 calendar into an empty calendar table; False when it is already there."""
    if session.scalar(select(CalendarMeta.id)) is not None:
        return False
    cal, source = load_seed(), read_seed()["source"]
    rows = [{"day": d, "is_working": w, "source": source, "version": cal.version} for d, w in cal.exceptions.items()]
    session.execute(insert(CalendarDay), rows)
    session.add(CalendarMeta(id=1, version=cal.version, confirmed_through=cal.confirmed_through, updated_at=now))
    session.flush()
    return True


_META = CalendarMeta.__table__
# Prepared (engine/store/prepared.py): every case change reads the version.
_VERSION = Prepared(select(_META.c.version, _META.c.confirmed_through))


def load_calendar(session: Session) -> WorkingCalendar:
    """The calendar in force (one indexed read of its version; the days are read once per version)."""
    meta = _VERSION.first(session, {})
    if meta is None:
        # An unseeded database still computes deadlines, on the shipped data rather than not at all.
        return load_seed()
    key = (database_key(session), meta.version)
    cal = _cache.get(key)
    if cal is None:
        rows = session.execute(select(CalendarDay.day, CalendarDay.is_working)).all()
        exceptions = {r.day: r.is_working for r in rows}
        pending = {d.year for d in exceptions if d.year > meta.confirmed_through}
        cal = WorkingCalendar(exceptions, meta.confirmed_through, meta.version, pending_years=pending)
        with _cache_lock:
            _cache[key] = cal
    return cal


def store_notice(session: Session, notice: CalendarNotice, now: datetime) -> WorkingCalendar:
    """Replace the notice's year in the table and bump the version; returns the new calendar."""
    seed_calendar(session, now)
    # Lock the version row first, so two imports cannot both build on the same version.
    meta = session.get(CalendarMeta, 1, with_for_update=True)
    new = load_calendar(session).with_notice(notice)
    session.execute(delete(CalendarDay).where(extract("year", CalendarDay.day) == notice.year),
                    execution_options={"synchronize_session": False})
    rows = [{"day": d, "is_working": w, "source": notice.source, "version": new.version}
            for d, w in new.exceptions.items() if d.year == notice.year]
    if rows:
        session.execute(insert(CalendarDay), rows)
    meta.version, meta.confirmed_through, meta.updated_at = new.version, new.confirmed_through, now
    session.flush()
    # A rebuilt database can reach the same version number with other content: forget this URL's entries.
    url = database_key(session)
    with _cache_lock:
        for key in [k for k in _cache if k[0] == url]:
            del _cache[key]
    return new
