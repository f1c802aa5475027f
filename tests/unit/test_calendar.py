"""The working-day calendar: domain facts, arithmetic laws, seed data and notice import."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import chinese_calendar
import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clock.calendar import SHANGHAI, WorkingCalendar
from engine.clock.notice import parse_notice
from engine.clock.seed import DISAGREEMENTS, generate_seed, load_seed, read_seed, render_seed
from engine.errors import InvalidInput

DATA = Path(__file__).resolve().parents[2] / "engine" / "clock" / "data"
EXAMPLE_2027 = (DATA / "notice-2027.example.toml").read_text(encoding="utf-8")
SEED_DAYS = [date(2004, 1, 1) + timedelta(days=k) for k in range((date(2026, 12, 31) - date(2004, 1, 1)).days + 1)]

dates = st.dates(date(2004, 1, 1), date(2030, 12, 31))
counts = st.integers(0, 400)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return load_seed()


@pytest.fixture(scope="module")
def cal2027(cal: WorkingCalendar) -> WorkingCalendar:
    return cal.with_notice(parse_notice(EXAMPLE_2027, "notice-2027.example.toml"))


def walk_add(cal: WorkingCalendar, start: date, n: int) -> date:
    """Reference: step day by day."""
    d = start
    while n:
        d += timedelta(days=1)
        n -= cal.is_working_day(d)
    return d


def walk_between(cal: WorkingCalendar, a: date, b: date) -> int:
    """Reference: count day by day over (a, b]."""
    lo, hi, sign = (a, b, 1) if a <= b else (b, a, -1)
    return sign * sum(cal.is_working_day(lo + timedelta(days=k)) for k in range(1, (hi - lo).days + 1))


# --- DOMAIN.md facts -------------------------------------------------------------------------------


def test_2026_make_up_workdays_are_working_weekends(cal):
    makeups = [date(2026, m, d) for m, d in ((1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10))]
    assert all(d.weekday() >= 5 and cal.is_working_day(d) for d in makeups)
    assert sorted(d for d, w in cal.exceptions.items() if w and d.year == 2026) == makeups


def test_2026_national_day_and_mid_autumn(cal):
    assert not any(cal.is_working_day(date(2026, 10, k)) for k in range(1, 8))
    # The 2026 notice: 中秋节 9月25日（周五）至27日（周日）; DOMAIN.md only mentions the Sunday.
    assert not any(cal.is_working_day(date(2026, 9, k)) for k in (25, 26, 27))
    assert cal.is_working_day(date(2026, 10, 8)) and cal.is_working_day(date(2026, 10, 10))


def test_twenty_working_days_over_national_day_2025(cal):
    assert cal.add_working_days(date(2025, 9, 26), 20) == (date(2025, 10, 30), False)


def test_case_accepted_2026_09_25_with_five_day_limit(cal):
    # 9-28, 9-29, 9-30, then National Day 10-01..07, then 10-08, 10-09.
    assert cal.add_working_days(date(2026, 9, 25), 5).day == date(2026, 10, 9)
    assert cal.add_working_days(date(2026, 9, 25), 6).day == date(2026, 10, 10)  # a make-up Saturday


def test_case_accepted_just_before_spring_festival_2026(cal):
    start = date(2026, 2, 13)  # Friday before the 2-15..2-23 break
    assert cal.add_working_days(start, 1).day == date(2026, 2, 14)  # make-up Saturday
    assert cal.add_working_days(start, 2).day == date(2026, 2, 24)
    assert cal.add_working_days(start, 5).day == date(2026, 2, 27)
    assert cal.add_working_days(start, 6).day == date(2026, 2, 28)  # make-up Saturday
    assert cal.working_days_between(start, date(2026, 2, 23)) == (1, False)


def test_start_day_not_counted_and_zero_is_start(cal):
    assert cal.add_working_days(date(2026, 10, 3), 0) == (date(2026, 10, 3), False)
    assert cal.add_working_days(date(2026, 3, 2), 1).day == date(2026, 3, 3)
    assert cal.next_working_day(date(2026, 9, 30)).day == date(2026, 10, 8)
    with pytest.raises(ValueError):
        cal.add_working_days(date(2026, 3, 2), -1)


# --- arithmetic laws -------------------------------------------------------------------------------


@given(dates, counts)
def test_between_inverts_add(a, n):
    cal = load_seed()
    assert cal.working_days_between(a, cal.add_working_days(a, n).day).days == n


@given(dates, counts)
def test_add_matches_day_by_day_walk(a, n):
    cal = load_seed()
    result = cal.add_working_days(a, n)
    assert result.day == walk_add(cal, a, n)
    assert result.day == a or cal.is_working_day(result.day)


@given(dates, dates)
def test_between_matches_walk_and_is_antisymmetric(a, b):
    cal = load_seed()
    count = cal.working_days_between(a, b).days
    assert count == walk_between(cal, a, b) == -cal.working_days_between(b, a).days


@given(dates, counts)
def test_add_is_strictly_monotonic_in_n(a, n):
    cal = load_seed()
    assert cal.add_working_days(a, n).day < cal.add_working_days(a, n + 1).day


@given(dates, st.integers(0, 30), counts)
def test_add_is_monotonic_in_start(a, shift, n):
    cal = load_seed()
    assert cal.add_working_days(a, n).day <= cal.add_working_days(a + timedelta(days=shift), n).day


@settings(max_examples=200)
@given(
    st.dictionaries(st.dates(date(2020, 1, 1), date(2020, 3, 31)), st.booleans(), max_size=40),
    st.dates(date(2019, 12, 1), date(2020, 4, 30)),
    st.integers(0, 80),
)
def test_arbitrary_exception_sets(exceptions, a, n):
    # Dense and adjacent exceptions exercise the between-exceptions arithmetic harder than real data.
    cal = WorkingCalendar(exceptions, 2020, 1)
    day = cal.add_working_days(a, n).day
    assert day == walk_add(cal, a, n)
    assert cal.working_days_between(a, day).days == n


def test_large_n_matches_walk(cal):
    assert cal.add_working_days(date(2004, 1, 1), 6000).day == walk_add(cal, date(2004, 1, 1), 6000)


def test_redundant_exceptions_are_ignored():
    cal = WorkingCalendar({date(2026, 3, 7): False, date(2026, 3, 9): True}, 2026, 1)  # Sat rest, Mon work
    assert cal.exceptions == {}
    assert cal.add_working_days(date(2026, 3, 6), 1).day == date(2026, 3, 9)


# --- deadlines and provisional results -------------------------------------------------------------


def test_deadline_is_end_of_local_day_in_utc(cal):
    at, provisional = cal.deadline_at(date(2025, 9, 26), 20)
    assert at.tzinfo is UTC and not provisional
    assert at == datetime(2025, 10, 30, 15, 59, 59, 999999, tzinfo=UTC)
    local = at.astimezone(SHANGHAI)
    assert (local.date(), local.time()) == (date(2025, 10, 30), time(23, 59, 59, 999999))
    assert at + timedelta(microseconds=1) == datetime(2025, 10, 31, tzinfo=SHANGHAI)


def test_beyond_published_data_is_provisional_weekday_rule(cal):
    assert cal.confirmed_through == 2026 and cal.version == 1
    assert cal.add_working_days(date(2026, 12, 30), 1) == (date(2026, 12, 31), False)
    # Weekday rule for 2027: 2027-01-01 (a Friday) counts although it will surely be 元旦.
    assert cal.add_working_days(date(2026, 12, 25), 10) == (date(2027, 1, 8), True)
    assert cal.deadline_at(date(2026, 12, 25), 10).provisional
    assert cal.working_days_between(date(2026, 12, 1), date(2027, 1, 4)).provisional
    assert cal.is_working_day(date(2030, 10, 1))  # no data: never raises
    assert cal.add_working_days(date(2035, 6, 1), 0) == (date(2035, 6, 1), True)


def test_example_notice_confirms_2027_and_moves_deadline(cal, cal2027):
    assert (cal2027.confirmed_through, cal2027.version) == (2027, 2)
    assert cal2027.add_working_days(date(2026, 12, 25), 10) == (date(2027, 1, 11), False)
    assert cal2027.deadline_at(date(2027, 9, 30), 1) == (datetime(2027, 10, 8, 15, 59, 59, 999999, tzinfo=UTC), False)
    assert cal2027.is_working_day(date(2027, 2, 20)) and not cal2027.is_working_day(date(2027, 2, 8))
    assert cal2027.add_working_days(date(2027, 12, 31), 1).provisional
    # The seed calendar itself is untouched.
    assert cal.confirmed_through == 2026 and cal.version == 1 and cal.is_working_day(date(2027, 2, 8))


def notice_for(year: int, body: str = "") -> str:
    return f'year = {year}\nsource = "test"\nholidays = [{{ name = "元旦", from = {year}-01-01 }}]\n{body}'


def test_notice_after_a_gap_confirms_only_when_the_gap_is_filled(cal):
    text = 'year = 2028\nsource = "test"\nholidays = [{ name = "元旦", from = 2028-01-01, to = 2028-01-03 }]'
    with_2028 = cal.with_notice(parse_notice(text, "2028.toml"))
    assert (with_2028.confirmed_through, with_2028.version, with_2028.pending_years) == (2026, 2, {2028})
    # 2028's holiday (Monday 01-03) is applied, but 2027 is unknown, so results there stay provisional.
    assert with_2028.add_working_days(date(2027, 12, 31), 1) == (date(2028, 1, 4), True)
    both = with_2028.with_notice(parse_notice(EXAMPLE_2027, "2027.toml"))
    assert (both.confirmed_through, both.version, both.pending_years) == (2028, 3, frozenset())
    assert both.add_working_days(date(2027, 12, 31), 1) == (date(2028, 1, 4), False)


def test_notice_for_a_confirmed_year_replaces_that_year(cal):
    amended = cal.with_notice(parse_notice(notice_for(2026, "workdays = [2026-03-07]"), "amend.toml"))
    assert amended.confirmed_through == 2026 and amended.version == 2
    assert amended.is_working_day(date(2026, 10, 1)) and amended.is_working_day(date(2026, 3, 7))
    assert not amended.is_working_day(date(2025, 10, 1))


# --- seed data ---------------------------------------------------------------------------------------


def test_seed_agrees_with_chinese_calendar_on_every_day(cal):
    differing = {d for d in SEED_DAYS if cal.is_working_day(d) != chinese_calendar.is_workday(d)}
    assert differing == set(DISAGREEMENTS)
    assert all(cal.is_working_day(d) == info.working for d, info in DISAGREEMENTS.items())


def test_every_disagreement_with_holidays_library_is_documented(cal):
    cn = holidays.China(years=range(2004, 2027))
    differing = {d for d in SEED_DAYS if cn.is_working_day(d) != chinese_calendar.is_workday(d)}
    print(f"chinese-calendar vs holidays disagreements 2004-2026: {len(differing)}")
    assert differing == set(DISAGREEMENTS)


def test_shipped_seed_file_is_current():
    assert (DATA / "cn_2004_2026.toml").read_text(encoding="utf-8") == render_seed(generate_seed())
    assert read_seed() == generate_seed()


def test_chinese_calendar_stops_at_2026():
    # Why the seed ends in 2026: the library refuses later years instead of guessing.
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 4))


# --- notice import -----------------------------------------------------------------------------------


def test_example_notice_parses():
    notice = parse_notice(EXAMPLE_2027, "notice-2027.example.toml")
    assert notice.year == 2027 and "EXAMPLE" in notice.source and "EXAMPLE" in EXAMPLE_2027.splitlines()[0]
    assert date(2027, 10, 7) in notice.holidays and date(2027, 6, 9) in notice.holidays
    assert len(notice.holidays) == 28 and date(2027, 10, 9) in notice.workdays


HEAD = 'year = 2027\nsource = "x"\n'


def one(name: str, first: str, extra: str = "") -> str:
    return f'holidays = [{{ name = "{name}", from = {first}{", " + extra if extra else ""} }}]'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("year = 2027\nholidays = [", "n.toml: malformed TOML"),
        ('source = "x"\n' + one("a", "2027-01-01"), "missing 'year'"),
        ('year = "2027"\nsource = "x"', "'year' must be a year number"),
        (notice_for(2027, "comment = 1"), "unknown key(s) comment"),
        ("year = 2027\n" + one("a", "2027-01-01"), "missing 'source'"),
        (HEAD + "holidays = []", "'holidays' must be a non-empty list"),
        (HEAD + one("a", "2027-01-01", "until = 2027-01-02"), "holidays[1]: unknown key(s) until"),
        (HEAD + "holidays = [{ from = 2027-01-01 }]", "holidays[1]: missing 'name'"),
        (HEAD + 'holidays = [{ name = "a", to = 2027-01-01 }]', "holiday 'a': missing 'from'"),
        (HEAD + one("a", '"2027-01-01"'), "holiday 'a' 'from' must be a date"),
        (HEAD + one("a", "2027-01-01T08:00:00"), "'from' must be a date"),
        (HEAD + one("国庆节", "2027-10-07", "to = 2027-10-01"), "holiday '国庆节': range is reversed (2027-10-07 to 2027-10-01)"),
        (HEAD + one("元旦", "2026-12-31", "to = 2027-01-01"), "holiday '元旦': 2026-12-31 is outside the notice's year 2027"),
        (notice_for(2027, "workdays = [2026-12-26]"), "make-up workday 2026-12-26 is outside the notice's year 2027"),
        (notice_for(2027, "workdays = [2027-02-22]"), "make-up workday 2027-02-22 is a Monday; only a Saturday or Sunday"),
        (HEAD + one("元旦", "2027-01-01", "to = 2027-01-03") + "\nworkdays = [2027-01-02]", "2027-01-02 listed both as holiday"),
        (notice_for(2027, "workdays = 2027-02-20"), "'workdays' must be a list of dates"),
    ],
)
def test_notice_errors_are_specific(text, message):
    with pytest.raises(InvalidInput) as caught:
        parse_notice(text, "n.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("n.toml: ")


def test_a_yaml_notice_reads_like_the_same_notice_in_toml():
    yaml_text = ("year: 2027\nsource: 国办发明电〔2026〕X号\nholidays:\n  - {name: 元旦, from: 2027-01-01, to: 2027-01-03}\n"
                 "  - {name: 春节, from: 2027-02-06, to: 2027-02-13}\nworkdays: [2027-02-20]\n")
    toml_text = ('year = 2027\nsource = "国办发明电〔2026〕X号"\nholidays = [{ name = "元旦", from = 2027-01-01, to = 2027-01-03 },'
                 ' { name = "春节", from = 2027-02-06, to = 2027-02-13 }]\nworkdays = [2027-02-20]\n')
    assert parse_notice(yaml_text, "n.yaml") == parse_notice(toml_text, "n.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("year: [", "n.yml: malformed YAML"),
        ("- 2027-01-01", "a notice is a mapping"),
        ("year: !!python/object/apply:os.system ['true']\n", "malformed YAML"),  # no objects, whatever the tag
        ("year: 2027\nsource: x\nholidays: [{name: a, from: '2027-01-01'}]", "holiday 'a' 'from' must be a date"),
    ],
)
def test_yaml_notice_errors_are_specific(text, message):
    with pytest.raises(InvalidInput) as caught:
        parse_notice(text, "n.yml")
    assert message in str(caught.value)
