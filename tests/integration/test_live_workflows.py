"""Live workflows kept between changes: used only for the exact stored state, never after a failed change."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from engine import services
from engine.bootstrap import OneWindow
from engine.errors import Conflict
from engine.runtime import CANONICAL_JSON, dump_state
from engine.services.actors import resolve_actor
from engine.services.casework import case_and_item, find_case, spec_bundle
from engine.services.workflow_steps import complete_case_task
from engine.store.models import Case
from engine.store.uow import reading, writing
from tests.integration.helpers import accepted_ad_case, only_task

REVIEW = {"decision": "pass", "opinion": "符合规划"}
SURVEY = {"survey_result": "conforms", "survey_date": "2026-03-11"}


def _stored(ow: OneWindow, case_no: str) -> tuple[int, int, str]:
    """The case's id, process version and stored workflow state."""
    with reading(ow.db) as session:
        case = find_case(session, case_no)
        return case.id, case.process_version_id, case.state_json


def test_after_a_change_the_live_workflow_is_exactly_the_stored_state(ow):
    case_no = accepted_ad_case(ow)
    services.complete(ow, only_task(ow, "reviewer1", "review"), "reviewer1", REVIEW)
    case_id, version_id, state = _stored(ow, case_no)
    with reading(ow.db) as session:
        bundle = spec_bundle(ow, session, version_id)
    live = ow.workflows.take(case_id, bundle, state)
    assert live is not None, "the committed change did not keep its workflow"
    assert dump_state(live, CANONICAL_JSON) == state
    assert ow.workflows.take(case_id, bundle, state) is None, "an entry must leave the cache when taken"


def test_a_change_that_fails_after_stepping_leaves_no_half_stepped_workflow(ow):
    case_no = accepted_ad_case(ow)
    review = only_task(ow, "reviewer1", "review")
    before = _stored(ow, case_no)
    with pytest.raises(Conflict), writing(ow.db) as session:
        case, item = case_and_item(session, review)
        # Another clerk's change lands after ours has stepped the engine, so our write is refused.
        session.connection().execute(update(Case).where(Case.id == case.id).values(row_version=Case.row_version + 1))
        complete_case_task(ow, session, case, review, resolve_actor(session, "reviewer1"), REVIEW, item=item)
    assert _stored(ow, case_no) == before
    # The review is still waiting: the next completion starts from the stored state, not the stepped object.
    assert services.complete(ow, review, "reviewer1", REVIEW) == "IN_REVIEW"
    assert only_task(ow, "inspector1", "survey", case_no)
    assert services.verify_history(ow, case_no) == {"cases_checked": 1, "problems": []}


def test_a_case_changed_by_another_process_is_reloaded_not_continued_from_memory(ow, db_url, clock):
    case_no = accepted_ad_case(ow)
    services.complete(ow, only_task(ow, "reviewer1", "review"), "reviewer1", REVIEW)
    # A second process (its own caches) takes the next step; this process still holds the state before it.
    other = OneWindow(db=ow.db, clock=clock, forms=ow.forms)
    services.complete(other, only_task(other, "inspector1", "survey"), "inspector1", SURVEY)
    decide = only_task(ow, "chief1", "decide", case_no)
    assert services.complete(ow, decide, "chief1", {"decision": "approve", "opinion": "准予",
                                                    "certificate_no": "HG-7"}) == "DECIDED"
    assert services.verify_history(ow, case_no) == {"cases_checked": 1, "problems": []}
