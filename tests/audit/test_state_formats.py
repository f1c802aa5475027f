"""Cases keep the state format they were stored in: ones in SpiffWorkflow's own JSON (before the canonical format)
still step, checkpoint and verify under their normalised hash, and a case row claiming another format is named."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select, text

from engine.replay import recorded_state_format
from engine.runtime import CANONICAL_JSON, ENGINE_JSON
from engine.services import audit, intake
from engine.store.models import Case, CaseCheckpoint
from engine.store.uow import reading, writing
from tests.audit.helpers import many_returns


def _stored(ow, case_no: str) -> tuple[int, str]:
    with reading(ow.db) as s:
        case = s.scalar(select(Case).where(Case.case_no == case_no))
        return case.state_format, case.state_json


@pytest.mark.parametrize("state_format", [ENGINE_JSON, CANONICAL_JSON])
def test_a_case_keeps_its_state_format_through_a_long_history_and_verifies(ow, monkeypatch, state_format):
    monkeypatch.setattr(intake, "NEW_CASES_STATE_FORMAT", state_format)
    case_no, shots = many_returns(ow, 9)  # 29 events, a checkpoint at event 20
    stored_format, state = _stored(ow, case_no)
    assert stored_format == state_format
    # SpiffWorkflow's own JSON has spaces after its separators and the tasks as a mapping; the canonical has neither.
    assert state.startswith('{"data": {') == (state_format == ENGINE_JSON)
    assert state.startswith('{"bpmn_events":[],"completed":') == (state_format == CANONICAL_JSON)
    with reading(ow.db) as s:
        assert s.scalars(select(CaseCheckpoint.seq)).all() == [20]
    assert audit.verify_history(ow, case_no)["problems"] == []
    for shot in (shots[0], shots[19], shots[22], shots[-1]):
        view = audit.case_as_of(ow, case_no, shot["seq"])
        assert view["verified"] and view["replayed_state_hash"] == shot["state_hash"], shot["seq"]


def test_a_case_row_claiming_another_state_format_is_named(ow):
    case_no, _ = many_returns(ow, 1)
    with writing(ow.db) as s:
        s.execute(text('UPDATE "case" SET state_format = :f WHERE case_no = :n'), {"f": ENGINE_JSON, "n": case_no})
    problems = audit.verify_history(ow, case_no)["problems"]
    assert [(p["seq"], p["check"]) for p in problems] == [(None, "case")]
    assert "state format" in problems[0]["problem"]


def test_histories_from_before_state_formats_read_as_the_engine_s_own_json():
    applied = SimpleNamespace(type="applied", payload={"item_code": "outdoor-ad", "environment": 1})
    assert recorded_state_format([applied]) == ENGINE_JSON
    assert recorded_state_format([]) == ENGINE_JSON
    applied.payload["state_format"] = CANONICAL_JSON
    assert recorded_state_format([applied]) == CANONICAL_JSON
