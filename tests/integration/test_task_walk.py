"""find_tasks walks the task tree as SpiffWorkflow's iterator does, and all_tasks sees the same tasks: checked on every
lookup of real pattern flows."""
from __future__ import annotations

import pytest
from SpiffWorkflow import TaskState

import engine.clock.deadlines
import engine.clock.timers
import engine.runtime

# Modules, not their functions: a test function imported by name would be collected and run here a second time.
from tests.patterns import test_bundle, test_catalogue_items, test_commitment, test_joint, test_report_up

# Every state filter anything asks for, so each lookup is checked beyond the one its caller made.
FILTERS = [(TaskState.ANY_MASK, None), (TaskState.READY, True), (TaskState.READY, None), (TaskState.WAITING, None),
           (TaskState.STARTED, None), (TaskState.COMPLETED, None), (TaskState.FINISHED_MASK, None),
           (TaskState.PREDICTED_MASK, None), (TaskState.NOT_FINISHED_MASK, False)]

FLOWS = [
    test_joint.test_each_department_reviews_from_its_own_inbox_then_the_lead_decides,
    test_joint.test_one_refusal_refuses_the_case_and_every_opinion_is_kept,
    test_report_up.test_the_higher_authority_decides_in_its_own_inbox_within_the_report_up_limit,
    test_report_up.test_a_request_for_more_information_reaches_the_local_reviewer_without_stopping_the_higher_review,
    test_report_up.test_refusal_above_comes_back_as_an_error_and_refuses_the_case,
    test_bundle.test_one_form_and_one_intake_open_and_run_the_sub_cases_in_parallel,
    test_catalogue_items.test_a_construction_permit_is_reviewed_jointly_then_issued_by_the_housing_bureau,
    test_commitment.test_the_licence_is_granted_on_the_commitment_and_confirmed_by_the_verification,
]


@pytest.fixture
def checked_walk(monkeypatch):
    """Every find_tasks call also asks SpiffWorkflow, for every filter; returns how many workflows were compared."""
    walk = engine.runtime.find_tasks
    seen = {"lookups": 0, "with_subprocesses": 0}

    def checked(wf, state=TaskState.ANY_MASK, manual=None):
        seen["lookups"] += 1
        seen["with_subprocesses"] += bool(wf.subprocesses)
        for other_state, other_manual in FILTERS:
            expected = wf.get_tasks(state=other_state, manual=other_manual)
            assert walk(wf, other_state, other_manual) == expected, TaskState.get_name(other_state)
        # The flat scan (the newest stamp, and the walk's look-ahead for states nobody is in) sees the same tasks.
        assert sorted(t.id for t in engine.runtime.all_tasks(wf)) == sorted(t.id for t in wf.get_tasks())
        return walk(wf, state, manual)

    for module in (engine.runtime, engine.clock.deadlines, engine.clock.timers):
        monkeypatch.setattr(module, "find_tasks", checked)
    return seen


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.__name__.removeprefix("test_")[:60])
def test_the_walk_finds_what_the_iterator_finds_through_a_whole_pattern_flow(flow, ow, checked_walk):
    flow(ow)
    assert checked_walk["lookups"] > 10


def test_the_walk_enters_subprocesses_where_the_iterator_does(ow, checked_walk):
    test_report_up.test_the_higher_authority_decides_in_its_own_inbox_within_the_report_up_limit(ow)
    # The report-up leg runs as a call activity: its tasks live in a subprocess of the case's workflow.
    assert checked_walk["with_subprocesses"] > 0


def test_the_walk_keeps_the_iterators_order_on_a_timer_flow(ow, clock, checked_walk):
    test_catalogue_items.test_an_undecided_renewal_is_deemed_renewed_when_the_licence_expires(ow, clock)
    assert checked_walk["lookups"] > 5
