"""A tampered database is reported, not trusted: raw SQL edits, deletions and insertions on case_event."""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text

from engine.history import event_hash
from engine.runtime import EngineEnvironment
from engine.scheduler import start_heartbeat
from engine.services import audit
from engine.store.uow import writing
from tests.audit.helpers import returned_twice_then_approved


def _sql(ow, statement: str, **params) -> None:
    with writing(ow.db) as s:
        s.execute(text(statement), params)


def _case_id(ow, case_no: str) -> int:
    with writing(ow.db) as s:
        return s.execute(text('SELECT id FROM "case" WHERE case_no = :n'), {"n": case_no}).scalar_one()


def _problems(ow, case_no: str) -> set[tuple[int | None, str]]:
    report = audit.verify_history(ow)
    assert {p["case_no"] for p in report["problems"]} <= {case_no}
    return {(p["seq"], p["check"]) for p in report["problems"]}


def _json_param(ow) -> str:
    return "CAST(:payload AS JSON)" if not ow.db.is_sqlite else ":payload"


def test_an_untouched_history_verifies_by_chain_and_by_re_execution(ow):
    case_no, shots = returned_twice_then_approved(ow)
    assert audit.verify_history(ow) == {"cases_checked": 1, "problems": []}
    run = audit.run_verification(ow, "auditor1")
    assert (run["cases_checked"], run["events_checked"], run["problems"]) == (1, len(shots), [])


def test_an_edited_row_is_named_with_case_and_sequence(ow):
    case_no, _ = returned_twice_then_approved(ow)
    _sql(ow, "UPDATE case_event SET actor = 'mallory' WHERE case_id = :c AND seq = 4", c=_case_id(ow, case_no))
    assert (4, "chain") in _problems(ow, case_no)


def test_an_edited_payload_is_named(ow):
    case_no, _ = returned_twice_then_approved(ow)
    payload = json.dumps({"task_id": "x", "bpmn_id": "review", "data": {"decision": "pass"}, "status": "IN_REVIEW"})
    _sql(ow, f"UPDATE case_event SET payload = {_json_param(ow)} WHERE case_id = :c AND seq = 4",
         payload=payload, c=_case_id(ow, case_no))
    problems = _problems(ow, case_no)
    assert (4, "chain") in problems and (4, "replay") in problems


def test_a_deleted_row_is_named(ow):
    case_no, shots = returned_twice_then_approved(ow)
    _sql(ow, "DELETE FROM case_event WHERE case_id = :c AND seq = 6", c=_case_id(ow, case_no))
    problems = _problems(ow, case_no)
    assert (7, "chain") in problems  # the gap shows at the next row
    # Deleting the last row leaves a case head pointing at a missing event.
    _sql(ow, "DELETE FROM case_event WHERE case_id = :c AND seq = :s", c=_case_id(ow, case_no), s=len(shots))
    assert (None, "chain") in _problems(ow, case_no)


def test_an_inserted_row_is_named(ow):
    case_no, shots = returned_twice_then_approved(ow)
    seq = len(shots) + 1
    _sql(ow, "INSERT INTO case_event (case_id, seq, type, actor, acting_for, payload, at, state_hash, prev_hash, hash) "
             f"VALUES (:c, :s, 'rated', 'mallory', NULL, {_json_param(ow)}, :at, :h, :p, :d)",
         c=_case_id(ow, case_no), s=seq, payload="{}", at=datetime.fromisoformat("2026-03-20T02:00:00+00:00"),
         h=shots[-1]["state_hash"], p="0" * 64, d="f" * 64)
    assert (seq, "chain") in _problems(ow, case_no)


def test_a_rewritten_chain_that_hashes_correctly_is_caught_by_re_execution(ow):
    """Someone who recomputes every hash after changing a decision defeats the chain, not the replay."""
    case_no, shots = returned_twice_then_approved(ow)
    case_id = _case_id(ow, case_no)
    with writing(ow.db) as s:
        rows = s.execute(text("SELECT seq, type, actor, acting_for, payload, at, state_hash FROM case_event "
                              "WHERE case_id = :c ORDER BY seq"), {"c": case_id}).all()
    prev = "0" * 64
    for seq, type_, actor, acting_for, payload, at, state in rows:
        payload = json.loads(payload) if isinstance(payload, str) else payload
        if seq == 4:  # the reviewer's "return" becomes "refuse"
            payload["data"]["decision"] = "refuse"
        at = at if isinstance(at, datetime) else datetime.fromisoformat(at)
        at = at if at.tzinfo else at.replace(tzinfo=datetime.fromisoformat("2026-01-01T00:00:00+00:00").tzinfo)
        digest = event_hash(case_no, seq, type_, actor, acting_for, payload, at, state, prev)
        _sql(ow, f"UPDATE case_event SET payload = {_json_param(ow)}, prev_hash = :p, hash = :d "
                 "WHERE case_id = :c AND seq = :s", payload=json.dumps(payload), p=prev, d=digest, c=case_id, s=seq)
        prev = digest
    _sql(ow, 'UPDATE "case" SET last_hash = :h WHERE id = :c', h=prev, c=case_id)
    problems = _problems(ow, case_no)
    assert not {p for p in problems if p[1] == "chain"}
    assert (4, "replay") in problems


def test_a_tampered_case_state_is_reported(ow):
    case_no, _ = returned_twice_then_approved(ow)
    _sql(ow, """UPDATE "case" SET status = 'IN_REVIEW' WHERE case_no = :n""", n=case_no)
    assert (None, "case") in _problems(ow, case_no)


def test_verification_runs_are_stored_and_listed(ow):
    case_no, _ = returned_twice_then_approved(ow)
    clean = audit.run_verification(ow, "auditor1", trigger="web")
    _sql(ow, "UPDATE case_event SET actor = 'mallory' WHERE case_id = :c AND seq = 2", c=_case_id(ow, case_no))
    dirty = audit.scheduled_verification(ow)
    runs = audit.verification_runs(ow, "supervisor1")
    assert [r["id"] for r in runs] == [dirty["run_id"], clean["run_id"]]
    assert runs[1]["problem_count"] == 0 and runs[1]["requested_by"] == "auditor1"
    assert runs[0]["trigger"] == "scheduler" and {(p["case_no"], p["seq"]) for p in runs[0]["problems"]} == {(case_no, 2)}


def test_the_heartbeat_schedules_the_nightly_verification(ow):
    scheduler = start_heartbeat(ow, 3600)
    try:
        job = scheduler.get_job("history-verify")
        assert job is not None and job.func is audit.scheduled_verification and job.args == (ow,)
    finally:
        scheduler.shutdown(wait=False)


def _rated_and_complained(ow) -> str:
    """An approved case its applicant rated 'very dissatisfied' and complained about."""
    from engine.services import portal

    case_no, _ = returned_twice_then_approved(ow)
    portal.rate(ow, case_no, 1, "等了很久", username="zhangsan")
    portal.complain(ow, case_no, "窗口没有一次性告知所缺材料", username="zhangsan")
    assert audit.verify_history(ow)["problems"] == []
    return case_no


def test_an_edited_rating_that_would_raise_the_satisfaction_rate_is_named(ow):
    case_no = _rated_and_complained(ow)
    _sql(ow, "UPDATE rating SET level = 5 WHERE case_id = :c", c=_case_id(ow, case_no))
    assert {check for _, check in _problems(ow, case_no)} == {"rating"}


def test_a_deleted_rating_or_complaint_row_is_named(ow):
    case_no = _rated_and_complained(ow)
    _sql(ow, "DELETE FROM rating WHERE case_id = :c", c=_case_id(ow, case_no))
    _sql(ow, "DELETE FROM complaint WHERE case_id = :c", c=_case_id(ow, case_no))
    assert {check for _, check in _problems(ow, case_no)} == {"rating", "complaint"}


def test_a_moved_conclusion_time_that_would_raise_the_on_time_rate_is_named(ow):
    case_no = _rated_and_complained(ow)
    _sql(ow, 'UPDATE "case" SET concluded_at = :t WHERE id = :c', t=datetime(2020, 1, 1), c=_case_id(ow, case_no))
    assert {check for _, check in _problems(ow, case_no)} == {"case"}


def _stored_state(ow, case_no: str) -> str:
    with writing(ow.db) as s:
        return s.execute(text('SELECT state_json FROM "case" WHERE case_no = :n'), {"n": case_no}).scalar_one()


def test_re_execution_rebuilds_the_stored_state_exactly_ids_and_times_included(ow):
    case_no, _ = returned_twice_then_approved(ow)
    stored = _stored_state(ow, case_no)
    # Task ids are not random: they derive from the case number and the event that created the task.
    assert str(EngineEnvironment(f"{case_no}/1", 0.0).task_id()) in stored
    assert audit.verify_history(ow, case_no)["problems"] == []
    # A state edited only where the normalised hash does not look (a task's time, a task id) is still caught.
    state = json.loads(stored)
    task = state["tasks"][0]
    task["last_state_change"] += 3600
    _sql(ow, 'UPDATE "case" SET state_json = :s WHERE case_no = :n', s=json.dumps(state), n=case_no)
    assert (None, "case") in _problems(ow, case_no)
    renamed = stored.replace(task["id"], "00000000-0000-4000-8000-000000000000")
    _sql(ow, 'UPDATE "case" SET state_json = :s WHERE case_no = :n', s=renamed, n=case_no)
    assert (None, "case") in _problems(ow, case_no)
