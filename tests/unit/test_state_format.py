"""How a case's workflow state is stored: in the canonical format equal states are equal text, whether or not the
workflow was rebuilt from its JSON between two steps, so the history hashes the stored text as it is."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.bpmn.parser import build_specs
from engine.runtime import (
    CANONICAL_JSON,
    ENGINE_JSON,
    SpecBundle,
    complete_task,
    dump_state,
    engine_environment,
    load_state,
    ready_user_tasks,
    start_workflow,
    state_hash,
)

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DEPARTMENTS = ["city-nature", "city-housing", "city-ecology"]
FORM_DATA = {"intake": {"intake_decision": "accept"}, "joint_review": {"decision": "approve", "opinion": "同意"},
             "decide": {"decision": "approve", "opinion": "准予许可"}}


def _joint_bundle() -> SpecBundle:
    bpmn = (PROCESSES / "building-planning.bpmn").read_bytes()
    parsed = build_specs([("building-planning.bpmn", bpmn)], "building_planning")
    return SpecBundle(parsed.spec, parsed.subprocess_specs)


def _walk(state_format: int, reload_each_step: bool) -> list[str]:
    """The stored state after each event of a joint review run to approval, last reviewer first."""
    bundle = _joint_bundle()
    with engine_environment("J1", 1, T0):
        wf = start_workflow(bundle, {"departments": DEPARTMENTS, "item_code": "building-planning"})
    states, seq = [dump_state(wf, state_format)], 1
    while ready := ready_user_tasks(wf):
        # The last parallel instance first: its data merges into the join in another order than it was created in.
        task, seq = ready[-1], seq + 1
        if reload_each_step:
            wf = load_state(bundle, states[-1], state_format)
            task = wf.get_task_from_id(task.id)
        with engine_environment("J1", seq, T0 + timedelta(hours=seq), wf):
            complete_task(wf, task, FORM_DATA[task.task_spec.bpmn_id])
        states.append(dump_state(wf, state_format))
    assert wf.is_completed() and seq == 6, "intake, three joint reviews and the decision"
    return states


def test_canonical_states_are_the_same_text_whether_or_not_the_workflow_was_rebuilt_between_steps():
    live, rebuilt = _walk(CANONICAL_JSON, False), _walk(CANONICAL_JSON, True)
    assert live == rebuilt
    assert [state_hash(s, CANONICAL_JSON) for s in live] == [hashlib.sha256(s.encode()).hexdigest() for s in live]


def test_engine_json_differs_as_text_after_a_rebuild_and_its_normalised_hash_does_not():
    live, rebuilt = _walk(ENGINE_JSON, False), _walk(ENGINE_JSON, True)
    # Why the canonical format exists: SpiffWorkflow's own JSON of one state depends on the workflow's past.
    assert live != rebuilt
    assert [state_hash(s, ENGINE_JSON) for s in live] == [state_hash(s, ENGINE_JSON) for s in rebuilt]


@pytest.mark.parametrize("state_format", [ENGINE_JSON, CANONICAL_JSON])
def test_a_rebuilt_workflow_keeps_every_task_s_data(state_format):
    states = _walk(state_format, False)
    bundle = _joint_bundle()
    for state in states:
        # What was saved comes back as it was: each task's data, rebuilt from its parent's, is whole.
        again = dump_state(load_state(bundle, state, state_format), state_format)
        assert state_hash(again, state_format) == state_hash(state, state_format)
        assert again == state or state_format == ENGINE_JSON
    final = load_state(bundle, states[-1], state_format)
    assert final.data["decision"] == "approve" and final.data["departments"] == DEPARTMENTS


def test_canonical_state_keeps_tasks_in_the_engine_s_order_and_sorts_every_key():
    state = _walk(CANONICAL_JSON, False)[2]
    wf = load_state(_joint_bundle(), state, CANONICAL_JSON)
    live_order = [str(t.id) for t in wf.tasks.values()]
    stored = json.loads(state)
    assert [t["id"] for t in stored["tasks"]] == live_order
    assert list(stored) == sorted(stored)
    assert ": " not in state and ", " not in state.replace('", "', "")
