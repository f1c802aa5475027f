"""Supervision figures (电子监察): on-time, on-site and satisfaction rates, overdue cases, cards, bad reviews, complaints.

Definitions (DOMAIN.md §2), for a period of Shanghai calendar days [date_from, date_to]:
- a case *concludes* in the period when it was decided (approved or refused) on one of its days; withdrawals and
  rejections at intake never started the decision clock and are not counted;
- on_time_rate = concluded by the due time of its promised clock (extensions and pauses included) ÷ concluded;
- on_site_rate = instant cases concluded on the spot by the window step (its completion event carries
  `on_site`, set by the use case for instant items) ÷ concluded;
- satisfaction_rate = ratings at level 3 or better (very satisfied, satisfied, basically satisfied) ÷ ratings,
  counted in the period the rating was given; levels 1–2 are bad reviews, each to be rectified within
  `bad_review_rectify_days` working days (a setting, default 15; a `rating_rectified` case event closes one);
- complaints are listed with their stage and reply deadline (`complaint_reply_days` working days from filing to
  the `complaint_answered` event; engine.services.complaints moves them on); overdue complaints are every
  unanswered one past it, whenever filed, like the overdue cases.
Rates are None when their denominator is zero, never 0 %, so "no data" is not read as "all late".
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.clock.calendar import WorkingCalendar
from engine.clock.ladder import calendar_due, end_of_day, local_day, start_of_day
from engine.clock.limits import case_limits
from engine.clock.settings import load_settings
from engine.clock.store import load_calendar
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.exchange import ExchangeEvent, status_codes
from engine.history import append_event, case_state_hash
from engine.services.actors import resolve_actor
from engine.services.audit import audit_reader, log_read
from engine.services.casework import find_case
from engine.services.complaint_stages import REPLIED, STAGES, event_type, next_stage
from engine.store.models import (
    Case,
    CaseEvent,
    Complaint,
    Deadline,
    Department,
    ProcessVersion,
    Rating,
    User,
)
from engine.store.uow import reading, writing

GROUPINGS = ("department", "item", "window", "month")
_BATCH = 500
DECIDED = ("approved", "refused")
BAD_REVIEW_LEVEL = 2
CARD_EVENTS = {"warning_issued": "warning", "yellow_card_issued": "yellow", "red_card_issued": "red"}
# Completion time as a share of the promised budget, for the distribution chart.
RATIO_BINS = ((0.25, "≤25%"), (0.5, "≤50%"), (0.75, "≤75%"), (1.0, "≤100%"), (1.25, "≤125%"), (1.5, "≤150%"),
              (float("inf"), ">150%"))


@dataclass(frozen=True)
class Period:
    """Inclusive Shanghai dates; `bounds` are the UTC instants that enclose them."""

    date_from: date
    date_to: date

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """First and last instant of the period (UTC)."""
        return start_of_day(self.date_from), end_of_day(self.date_to)


def parse_period(date_from: str | None, date_to: str | None, now: datetime) -> Period:
    """A period from ISO dates; default: the current month up to today."""
    today = local_day(now)
    try:
        start = date.fromisoformat(date_from) if date_from else today.replace(day=1)
        end = date.fromisoformat(date_to) if date_to else today
    except ValueError as exc:
        raise InvalidInput(f"period dates must be YYYY-MM-DD: {exc}", fields={"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}) from None
    if end < start:
        raise InvalidInput(f"the period ends ({end}) before it starts ({start})", fields={"to": "not before from"})
    if (end - start).days > 3660:
        raise InvalidInput("a period is at most ten years", fields={"to": "at most ten years after from"})
    return Period(start, end)


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _promised_due(session: Session, cal: WorkingCalendar, cases: list[Case], manifests: dict[int, dict]) -> dict[int, Deadline]:
    """The promised clock of each case: its stored row, or one computed from the manifest when none was kept."""
    rows: dict[int, Deadline] = {}
    ids = [c.id for c in cases]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in session.scalars(select(Deadline).where(Deadline.case_id.in_(chunk), Deadline.kind == "promised")
                                   .order_by(Deadline.id)):
            rows[row.case_id] = row
    for case in cases:
        if case.id not in rows and case.accepted_at is not None:
            budget = case_limits(manifests[case.process_version_id], application=case.form_data).promised
            row = Deadline(kind="promised", budget_days=budget.amount, budget_unit=budget.unit, extended_days=0,
                           paused_days=0, started_on=local_day(case.accepted_at), stage="running", is_open=False)
            row.due_at = calendar_due(cal, row).at if budget.unit != "h" else case.accepted_at + timedelta(hours=budget.amount)
            rows[case.id] = row
    return rows


@dataclass
class _Tally:
    concluded: int = 0
    on_time: int = 0
    on_site: int = 0
    ratings: int = 0
    satisfied: int = 0

    def row(self, key: str, label: str) -> dict[str, Any]:
        return {"key": key, "label": label, "concluded": self.concluded, "on_time": self.on_time,
                "on_time_rate": _rate(self.on_time, self.concluded), "on_site": self.on_site,
                "on_site_rate": _rate(self.on_site, self.concluded), "ratings": self.ratings,
                "satisfied": self.satisfied, "satisfaction_rate": _rate(self.satisfied, self.ratings)}


def _labels(session: Session) -> tuple[dict[int, tuple[str, str]], dict[int, str]]:
    departments = {d.id: (d.code, d.name) for d in session.scalars(select(Department))}
    users = dict(session.execute(select(User.id, User.username)).all())
    return departments, users


def _key(case: Case, by: str, when: datetime, departments, users, manifests) -> tuple[str, str]:
    if by == "department":
        code, name = departments.get(case.department_id, ("-", "—"))
        return code, name
    if by == "item":
        return case.item_code, manifests[case.process_version_id].get("name", case.item_code)
    if by == "window":
        if case.first_contact_id is None:
            return "online", "网上申请 · online"
        name = users.get(case.first_contact_id, "?")
        return name, name
    month = local_day(when).strftime("%Y-%m")
    return month, month


def _manifests(session: Session) -> dict[int, dict]:
    return dict(session.execute(select(ProcessVersion.id, ProcessVersion.manifest)).all())


def _concluded(session: Session, period: Period) -> list[Case]:
    low, high = period.bounds
    return list(session.scalars(select(Case).where(Case.concluded_at >= low, Case.concluded_at <= high,
                                                  Case.result.in_(DECIDED)).order_by(Case.id)))


def _on_site(session: Session, cases: list[Case]) -> set[int]:
    """Cases an instant item's window step concluded on the spot (the completion event says `on_site`)."""
    found: set[int] = set()
    ids = [c.id for c in cases]
    for start in range(0, len(ids), 500):
        rows = session.execute(select(CaseEvent.case_id, CaseEvent.payload).where(
            CaseEvent.case_id.in_(ids[start:start + 500]), CaseEvent.type.in_(("accepted", "task_completed"))))
        found.update(case_id for case_id, payload in rows if (payload or {}).get("on_site"))
    return found


def compute_figures(session: Session, period: Period, by: str) -> dict[str, Any]:
    """The three rates grouped by department, item, window or month, with totals and the completion distribution."""
    if by not in GROUPINGS:
        raise InvalidInput(f"figures are grouped by {', '.join(GROUPINGS)}, not '{by}'", fields={"by": "unknown"})
    cal = load_calendar(session)
    manifests = _manifests(session)
    departments, users = _labels(session)
    cases = _concluded(session, period)
    due = _promised_due(session, cal, cases, manifests)
    on_site_ids = _on_site(session, cases)
    groups: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    total = _Tally()
    distribution = {label: 0 for _, label in RATIO_BINS}
    for case in cases:
        clock = due.get(case.id)
        on_time = clock is not None and case.concluded_at <= clock.due_at
        on_site = case.id in on_site_ids
        for tally in (groups[_key(case, by, case.concluded_at, departments, users, manifests)], total):
            tally.concluded += 1
            tally.on_time += on_time
            tally.on_site += on_site
        if clock is not None and case.accepted_at is not None:
            distribution[_ratio_bin(cal, case, clock)] += 1
    low, high = period.bounds
    for rating, case in session.execute(select(Rating, Case).join(Case, Case.id == Rating.case_id)
                                        .where(Rating.at >= low, Rating.at <= high)):
        for tally in (groups[_key(case, by, rating.at, departments, users, manifests)], total):
            tally.ratings += 1
            tally.satisfied += rating.level > BAD_REVIEW_LEVEL
    rows = [tally.row(key, label) for (key, label), tally in sorted(groups.items())]
    return {"from": period.date_from.isoformat(), "to": period.date_to.isoformat(), "by": by, "rows": rows,
            "total": total.row("total", "合计 · total"),
            "distribution": [{"bin": label, "cases": n} for label, n in distribution.items()]}


def _ratio_bin(cal: WorkingCalendar, case: Case, clock: Deadline) -> str:
    budget = max(1, clock.budget_days + clock.extended_days)
    start, end = local_day(case.accepted_at), local_day(case.concluded_at)
    used = cal.working_days_between(start, end).days if clock.budget_unit == "wd" else (end - start).days
    used -= clock.paused_days or 0
    share = max(0, used) / budget
    return next(label for limit, label in RATIO_BINS if share <= limit)


def monthly_trend(session: Session, period: Period) -> list[dict[str, Any]]:
    """Figures per month of the period (the trend chart's data)."""
    return compute_figures(session, period, "month")["rows"]


def overdue_cases(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Open clocks past their due time or carrying a card, with the case and the ladder stage."""
    rows = session.execute(
        select(Deadline, Case).join(Case, Case.id == Deadline.case_id)
        .where(Deadline.is_open.is_(True), Deadline.kind.in_(("statutory", "promised", "step")))
        .where((Deadline.due_at < now) | Deadline.stage.in_(("yellow", "red")))
        .order_by(Deadline.due_at, Deadline.id))
    return [{"case_no": case.case_no, "item_code": case.item_code, "status": case.status, "clock": row.kind,
             "bpmn_id": row.bpmn_id, "due_at": row.due_at.isoformat(), "stage": row.stage,
             "overdue_days": (local_day(now) - local_day(row.due_at)).days} for row, case in rows]


def cards(session: Session, period: Period) -> list[dict[str, Any]]:
    """Warnings, yellow and red cards issued in the period, each resolved once its clock closed."""
    low, high = period.bounds
    found = session.execute(select(CaseEvent, Case).join(Case, Case.id == CaseEvent.case_id)
                            .where(CaseEvent.type.in_(tuple(CARD_EVENTS)), CaseEvent.at >= low, CaseEvent.at <= high)
                            .order_by(CaseEvent.at, CaseEvent.id)).all()
    clock_ids = {ev.payload.get("deadline_id") for ev, _ in found if ev.payload.get("deadline_id")}
    clocks = {d.id: d for d in session.scalars(select(Deadline).where(Deadline.id.in_(clock_ids)))} if clock_ids else {}
    out = []
    for ev, case in found:
        clock = clocks.get(ev.payload.get("deadline_id"))
        out.append({"case_no": case.case_no, "seq": ev.seq, "card": CARD_EVENTS[ev.type], "issued_at": ev.at.isoformat(),
                    "clock": clock.kind if clock else ev.payload.get("kind"),
                    "bpmn_id": clock.bpmn_id if clock else ev.payload.get("bpmn_id"),
                    "resolved": bool(clock is not None and not clock.is_open),
                    "resolved_at": clock.closed_at.isoformat() if clock is not None and clock.closed_at else None})
    return out


def bad_reviews(session: Session, period: Period, now: datetime) -> list[dict[str, Any]]:
    """Bad reviews given in the period with their rectification deadline and status (open, overdue, rectified, late)."""
    cal = load_calendar(session)
    days = load_settings().bad_review_rectify_days
    low, high = period.bounds
    found = session.execute(select(Rating, Case).join(Case, Case.id == Rating.case_id)
                            .where(Rating.at >= low, Rating.at <= high, Rating.level <= BAD_REVIEW_LEVEL)
                            .order_by(Rating.at, Rating.id)).all()
    out = []
    for rating, case in found:
        deadline = cal.deadline_at(local_day(rating.at), days).at
        done = session.scalar(select(CaseEvent.at).where(CaseEvent.case_id == case.id,
                                                         CaseEvent.type == "rating_rectified",
                                                         CaseEvent.at >= rating.at).order_by(CaseEvent.seq).limit(1))
        status = _follow_up(done, deadline, now, "rectified")
        out.append({"case_no": case.case_no, "level": rating.level, "comment": rating.comment,
                    "rated_at": rating.at.isoformat(), "rectify_by": deadline.isoformat(),
                    "rectified_at": done.isoformat() if done else None, "status": status})
    return out


def _follow_up(done: datetime | None, deadline: datetime, now: datetime, done_word: str) -> str:
    """open, overdue, `done_word` (in time) or `done_word`_late: where a bad review or a complaint stands."""
    if done is not None:
        return done_word if done <= deadline else f"{done_word}_late"
    return "overdue" if now > deadline else "open"


def complaint_rows(session: Session, found: list[tuple[Complaint, Case]], now: datetime) -> list[dict[str, Any]]:
    """Complaints with their stage, reply deadline and reply status (open, overdue, answered, answered_late)."""
    cal = load_calendar(session)
    days = load_settings().complaint_reply_days
    answered = _answered_at(session, {case.id for _, case in found})
    rows = []
    for complaint, case in found:
        # Computed when read, like the bad reviews' limit: the setting in force applies to every complaint.
        reply_by = cal.deadline_at(local_day(complaint.at), days).at
        done = answered.get(complaint.id)
        reply_status = _follow_up(done, reply_by, now, "answered")
        rows.append({"complaint_id": complaint.id, "case_no": case.case_no, "status": complaint.status,
                     "filed_at": complaint.at.isoformat(), "reply_by": reply_by.isoformat(),
                     "answered_at": done.isoformat() if done else None, "reply_status": reply_status,
                     "next_stage": next_stage(complaint.status) if complaint.status in STAGES else None,
                     "text": complaint.text})
    return rows


def _answered_at(session: Session, case_ids: set[int]) -> dict[int, datetime]:
    """When each complaint of these cases was answered, from the events (the row's stage could be edited)."""
    ids, found = sorted(case_ids), {}
    for start in range(0, len(ids), _BATCH):
        rows = session.execute(select(CaseEvent.payload, CaseEvent.at).where(
            CaseEvent.case_id.in_(ids[start:start + _BATCH]), CaseEvent.type == event_type("answered")))
        for payload, at in rows:
            found.setdefault((payload or {}).get("complaint_id"), at)
    return found


def overdue_complaints(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Every complaint not answered by its reply deadline, whenever it was filed."""
    waiting = session.execute(select(Complaint, Case).join(Case, Case.id == Complaint.case_id)
                              .where(Complaint.status.not_in(tuple(REPLIED))).order_by(Complaint.at, Complaint.id))
    return [row for row in complaint_rows(session, list(waiting.tuples()), now) if row["reply_status"] == "overdue"]


def complaints(session: Session, period: Period, now: datetime) -> list[dict[str, Any]]:
    """Complaints filed in the period with their current stage, reply deadline and reply status."""
    low, high = period.bounds
    found = session.execute(select(Complaint, Case).join(Case, Case.id == Complaint.case_id)
                            .where(Complaint.at >= low, Complaint.at <= high).order_by(Complaint.at, Complaint.id))
    return complaint_rows(session, list(found.tuples()), now)


def supervision_report(ow: OneWindow, username: str, date_from: str | None = None, date_to: str | None = None,
                       by: str = "department") -> dict[str, Any]:
    """Everything on the supervision page for a period: figures, trend, overdue list, cards, reviews, complaints."""
    now = ow.clock.now()
    period = parse_period(date_from, date_to, now)
    with reading(ow.db) as session:
        audit_reader(session, username)
        report = compute_figures(session, period, by)
        report.update(trend=monthly_trend(session, period), overdue=overdue_cases(session, now),
                      cards=cards(session, period), bad_reviews=bad_reviews(session, period, now),
                      complaints=complaints(session, period, now),
                      overdue_complaints=overdue_complaints(session, now))
    log_read(ow, username, "figures", None, **{"from": report["from"], "to": report["to"], "by": by})
    return report


def exchange_records(session: Session, period: Period) -> list[dict[str, Any]]:
    """National status codes (DOMAIN.md §4) of every case with events in the period, one row per code."""
    low, high = period.bounds
    case_ids = select(CaseEvent.case_id).where(CaseEvent.at >= low, CaseEvent.at <= high).distinct()
    manifests = _manifests(session)
    out: list[dict[str, Any]] = []
    for case in session.scalars(select(Case).where(Case.id.in_(case_ids)).order_by(Case.id)):
        events = session.execute(select(CaseEvent.seq, CaseEvent.type, CaseEvent.at, CaseEvent.payload)
                                 .where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
        manifest = manifests[case.process_version_id]
        for status in status_codes([ExchangeEvent(*row) for row in events], case.result):
            if low <= datetime.fromisoformat(status["at"]) <= high:
                out.append({"case_no": case.case_no, "item_code": case.item_code,
                            "catalogue_code": manifest.get("catalogue_code", ""),
                            "implementation_code": manifest.get("implementation_code", ""), **status})
    return out


# What each export holds: the rows and their CSV columns.
EXPORTS = {
    "figures": ("key", "label", "concluded", "on_time", "on_time_rate", "on_site", "on_site_rate", "ratings",
                "satisfied", "satisfaction_rate"),
    "overdue": ("case_no", "item_code", "status", "clock", "bpmn_id", "due_at", "stage", "overdue_days"),
    "cards": ("case_no", "seq", "card", "issued_at", "clock", "bpmn_id", "resolved", "resolved_at"),
    "reviews": ("case_no", "level", "comment", "rated_at", "rectify_by", "rectified_at", "status"),
    "complaints": ("complaint_id", "case_no", "status", "filed_at", "reply_by", "answered_at", "reply_status", "text"),
    "exchange": ("case_no", "item_code", "catalogue_code", "implementation_code", "seq", "code", "name", "at"),
}


def export_rows(ow: OneWindow, username: str, kind: str, date_from: str | None = None, date_to: str | None = None,
                by: str = "department") -> dict[str, Any]:
    """The rows of one export for a period (an empty period gives an empty list, never an error)."""
    if kind not in EXPORTS:
        raise InvalidInput(f"exports are {', '.join(EXPORTS)}, not '{kind}'", fields={"kind": "unknown"})
    now = ow.clock.now()
    period = parse_period(date_from, date_to, now)
    with reading(ow.db) as session:
        audit_reader(session, username)
        if kind == "figures":
            rows = compute_figures(session, period, by)["rows"]
        elif kind == "overdue":
            rows = overdue_cases(session, now)
        elif kind == "cards":
            rows = cards(session, period)
        elif kind == "reviews":
            rows = bad_reviews(session, period, now)
        elif kind == "complaints":
            rows = complaints(session, period, now)
        else:
            rows = exchange_records(session, period)
    log_read(ow, username, f"export_{kind}", None, **{"from": period.date_from.isoformat(),
                                                       "to": period.date_to.isoformat(), "rows": len(rows)})
    return {"kind": kind, "from": period.date_from.isoformat(), "to": period.date_to.isoformat(),
            "columns": list(EXPORTS[kind]), "rows": rows}


def export_csv(export: dict[str, Any]) -> str:
    """An export as CSV text with a header row (UTF-8 with BOM so spreadsheet programs read the Chinese)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.DictWriter(buffer, fieldnames=export["columns"], extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in export["rows"]:
        writer.writerow({k: _cell(row.get(k)) for k in export["columns"]})
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    # Text a complainant typed must not become a spreadsheet formula when the export is opened.
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def rectify_bad_review(ow: OneWindow, case_no: str, username: str, answer: str) -> dict[str, Any]:
    """Record that a bad review was verified, rectified and answered (a supervisor or the department's head)."""
    answer = (answer or "").strip()
    if not 5 <= len(answer) <= 2000:
        raise InvalidInput("the answer to the applicant is 5–2000 characters", fields={"answer": "5–2000 characters"})
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group("supervisor", "dept_head")
        case = find_case(session, case_no)
        if "supervisor" not in actor.groups and not actor.covers_department(case.department_id):
            raise Forbidden(f"{username} heads another department than the one handling case {case_no}")
        rating = session.scalar(select(Rating).where(Rating.case_id == case.id))
        if rating is None or rating.level > BAD_REVIEW_LEVEL:
            raise Conflict(f"case {case_no} has no bad review to rectify")
        if session.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case.id,
                                                     CaseEvent.type == "rating_rectified")) is not None:
            raise Conflict(f"the bad review of case {case_no} was already rectified")
        now = ow.clock.now()
        append_event(session, case, "rating_rectified", username, {"level": rating.level, "answer": answer}, now,
                     case_state_hash(case))
        return {"case_no": case_no, "rectified_at": now.isoformat()}
