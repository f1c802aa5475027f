"""Backup posts (AB岗): marking a holder absent, and back, is recorded on each case whose held work moves."""
from __future__ import annotations

import pytest

from engine import services
from engine.services import accounts, audit
from tests.audit.case_admin import footprint, last_event, staff  # noqa: F401 (a fixture)
from tests.integration.helpers import accepted_ad_case, only_task

# Every test here also needs the second reviewer and the market bureau's head.
pytestmark = pytest.mark.usefixtures("staff")


def test_absence_and_return_are_events_on_the_cases_whose_work_moves(ow):
    held, other = accepted_ad_case(ow), accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", held)
    services.claim(ow, task_id, "reviewer1")
    untouched = footprint(ow, other)  # its review is unclaimed: it stays in the group, nothing moves
    accounts.set_absence(ow, "head1", "reviewer1", True, "reviewer2")
    event = last_event(ow, held)
    assert (event["type"], event["actor"]) == ("holder_absent", "head1")
    assert event["payload"] == {"holder": "reviewer1", "backup": "reviewer2",
                                "tasks": [{"task_id": task_id, "bpmn_id": "review"}]}
    assert footprint(ow, other) == untouched
    # Marking an absent holder absent again moves nothing and records nothing.
    before = footprint(ow, held)
    accounts.set_absence(ow, "head1", "reviewer1", True, None)
    assert footprint(ow, held) == before
    # The backup works the task for the holder; when the holder returns, the case says so.
    assert task_id in {t["task_id"] for t in services.inbox(ow, "reviewer2", "mine")}
    accounts.set_absence(ow, "reviewer1", "reviewer1", False, None)
    event = last_event(ow, held)
    assert (event["type"], event["actor"], event["payload"]["backup"]) == ("holder_returned", "reviewer1", "reviewer2")
    assert task_id not in {t["task_id"] for t in services.inbox(ow, "reviewer2", "mine")}
    assert audit.verify_history(ow)["problems"] == []
