"""Import format for a year's official holiday notice (国务院办公厅关于…部分节假日安排的通知).

An administrator transcribes the State Council notice into TOML::

    year = 2027
    source = "国办发明电〔2026〕X号"
    holidays = [ { name = "元旦", from = 2027-01-01, to = 2027-01-03 } ]  # to defaults to from
    workdays = [ 2027-02-20 ]                                            # make-up working weekends

or, in a file named *.yaml / *.yml, the same keys in YAML (``holidays: [{name: 元旦, from: 2027-01-01}]``).

The file must state the complete arrangement of the year: it replaces the year in the calendar.
Validation is strict because a typo here silently moves legal deadlines.
"""
from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NoReturn

import yaml

from engine.errors import InvalidInput

_TOP_KEYS = {"year", "source", "holidays", "workdays"}
_HOLIDAY_KEYS = {"name", "from", "to"}
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class CalendarNotice:
    """One year's official arrangement: every rest day of its holidays and its make-up workdays."""

    year: int
    source: str
    holidays: frozenset[date]
    workdays: frozenset[date]


def _date(value: Any, where: str, fail: Callable[[str], NoReturn]) -> date:
    # tomllib returns datetime for "2027-01-01T00:00"; a time of day has no meaning in a notice.
    if not isinstance(value, date) or isinstance(value, datetime):
        fail(f"{where} must be a date like 2027-01-01, got {value!r}")
    return value


def _load_toml(text: str, fail: Callable[[str], NoReturn]) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        fail(f"malformed TOML: {exc}")


def _load_yaml(text: str, fail: Callable[[str], NoReturn]) -> dict[str, Any]:
    # safe_load builds only plain data (no tags, no objects); dates like 2027-01-01 come back as dates, as in TOML.
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        fail(f"malformed YAML: {exc}")
    if not isinstance(raw, dict):
        fail("a notice is a mapping with year, source, holidays and workdays")
    return raw


def parse_notice(text: str, source_name: str) -> CalendarNotice:
    """Parse and validate a notice file's text; ``source_name`` (e.g. the file name) prefixes errors."""

    def fail(message: str) -> NoReturn:
        raise InvalidInput(f"{source_name}: {message}")

    raw = _load_yaml(text, fail) if source_name.lower().endswith((".yaml", ".yml")) else _load_toml(text, fail)
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        fail(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    if "year" not in raw:
        fail("missing 'year'")
    year = raw["year"]
    if not isinstance(year, int) or isinstance(year, bool) or not 1949 < year < 3000:
        fail(f"'year' must be a year number like 2027, got {year!r}")
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        fail("missing 'source': give the notice's document number, e.g. 国办发明电〔2026〕X号")
    entries = raw.get("holidays")
    if not isinstance(entries, list) or not entries:
        # Every notice has at least New Year's Day; an empty list is an unfinished transcription.
        fail("'holidays' must be a non-empty list of { name, from, to } tables")
    workday_list = raw.get("workdays", [])
    if not isinstance(workday_list, list):
        fail("'workdays' must be a list of dates")

    holidays: set[date] = set()
    for i, entry in enumerate(entries, 1):
        where = f"holidays[{i}]"
        if not isinstance(entry, dict):
            fail(f"{where} must be a table {{ name = ..., from = ..., to = ... }}")
        unknown = sorted(set(entry) - _HOLIDAY_KEYS)
        if unknown:
            fail(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: from, name, to")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            fail(f"{where}: missing 'name'")
        where = f"holiday {name!r}"
        if "from" not in entry:
            fail(f"{where}: missing 'from'")
        first = _date(entry["from"], f"{where} 'from'", fail)
        last = _date(entry.get("to", first), f"{where} 'to'", fail)
        if last < first:
            fail(f"{where}: range is reversed ({first} to {last})")
        for d in (first, last):
            if d.year != year:
                fail(f"{where}: {d} is outside the notice's year {year}")
        holidays.update(first + timedelta(days=k) for k in range((last - first).days + 1))

    workdays: set[date] = set()
    for i, value in enumerate(workday_list, 1):
        d = _date(value, f"workdays[{i}]", fail)
        if d.year != year:
            fail(f"make-up workday {d} is outside the notice's year {year}")
        if d.weekday() < 5:
            fail(f"make-up workday {d} is a {_WEEKDAY_NAMES[d.weekday()]}; only a Saturday or Sunday can be one")
        workdays.add(d)

    both = sorted(holidays & workdays)
    if both:
        fail(f"{', '.join(map(str, both))} listed both as holiday and as make-up workday")
    return CalendarNotice(year, source.strip(), frozenset(holidays), frozenset(workdays))
