"""A BPMN step marked `special` is a special procedure (行政许可法 art. 45): the clocks pause while it waits.

The pollutant discharge permit's technical review (技术评估) carries `special = technical-review`.
"""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine import services
from engine.errors import Conflict
from engine.store.models import Case, ClockPause, Deadline, Notification
from engine.store.uow import reading
from tests.integration.helpers import only_task

SH = ZoneInfo("Asia/Shanghai")
PERMIT = {"facility_name": "示例化工有限公司", "address": "杭州市钱塘区江东大道1号", "industry": "化学原料和化学制品制造业",
          "management_class": "simplified"}
REVIEW = {"decision": "pass", "opinion": "材料齐全，转技术评估"}
TECH_REVIEW = {"decision": "pass", "opinion": "排放方案符合要求"}


def _clocks(ow, case_no: str) -> dict[str, tuple]:
    """The case clocks' (unit, paused days, paused now?, due day in Shanghai) by kind."""
    with reading(ow.db) as session:
        rows = session.scalars(select(Deadline).join(Case, Case.id == Deadline.case_id)
                               .where(Case.case_no == case_no, Deadline.is_open.is_(True),
                                      Deadline.kind.in_(("statutory", "promised"))))
        return {r.kind: (r.budget_unit, r.paused_days, r.paused_since is not None,
                         r.due_at.astimezone(SH).date().isoformat()) for r in rows}


def _pauses(ow, case_no: str) -> list[tuple]:
    with reading(ow.db) as session:
        rows = session.scalars(select(ClockPause).join(Case, Case.id == ClockPause.case_id)
                               .where(Case.case_no == case_no).order_by(ClockPause.id))
        return [(p.kind, p.name, p.reason, p.ended_at is not None, p.paused_days) for p in rows]


@pytest.fixture
def reviewed(ow, clock) -> str:
    """A simplified-category permit accepted Thu 2026-09-17 and passed by the material review the same day."""
    clock.set(datetime(2026, 9, 17, 2, 0, tzinfo=UTC))
    case_no = services.apply(ow, "pollutant-discharge", "zhangsan", PERMIT)["case_no"]
    services.accept(ow, case_no, "window1", "材料齐全")
    # 20 days and 10 working days from 09-17 both end on 10-08 (the day after the National Day holiday).
    assert _clocks(ow, case_no) == {"statutory": ("d", 0, False, "2026-10-08"),
                                    "promised": ("wd", 0, False, "2026-10-08")}
    services.complete(ow, only_task(ow, "ecology_reviewer", "review", case_no), "ecology_reviewer", REVIEW)
    return case_no


def test_reaching_the_special_step_pauses_the_clocks_and_tells_the_applicant(ow, reviewed):
    detail = services.case_detail(ow, reviewed)
    assert detail["status"] == "SUSPENDED"
    assert [t["bpmn_id"] for t in detail["open_tasks"]] == ["tech_review"]
    assert {kind: paused for kind, (_, _, paused, _) in _clocks(ow, reviewed).items()} == {"statutory": True,
                                                                                          "promised": True}
    assert _pauses(ow, reviewed) == [("special_procedure", "技术评估", "technical-review", False, None)]
    assert [e["type"] for e in services.history(ow, reviewed)][-2:] == ["task_completed", "clock_paused"]
    with reading(ow.db) as session:
        notices = session.execute(select(Notification.recipient, Notification.body)
                                  .where(Notification.kind == "special_procedure_notice")).all()
    assert [n.recipient for n in notices] == ["zhangsan"] and "技术评估" in notices[0].body["zh"]


def test_completing_the_special_step_runs_the_clocks_again_longer_by_the_pause(ow, clock, reviewed):
    clock.set(datetime(2026, 9, 24, 7, 0, tzinfo=UTC))
    status = services.complete(ow, only_task(ow, "ecology_reviewer", "tech_review", reviewed), "ecology_reviewer", TECH_REVIEW)
    assert status == "IN_REVIEW"
    # (09-17, 09-24]: six working days (with the make-up Sunday 09-20), seven calendar days. The working-day
    # clock moves from 10-08 by six working days (over the make-up Saturday 10-10) to 10-15; the 20-day clock
    # becomes 27 days from 09-17, a working Wednesday 10-14 (the holiday week runs on a calendar-day clock).
    assert _clocks(ow, reviewed) == {"statutory": ("d", 7, False, "2026-10-14"),
                                     "promised": ("wd", 6, False, "2026-10-15")}
    assert _pauses(ow, reviewed) == [("special_procedure", "技术评估", "technical-review", True, 6)]
    assert [e["type"] for e in services.history(ow, reviewed)][-2:] == ["task_completed", "clock_resumed"]
    decide = only_task(ow, "ecology_chief", "decide", reviewed)
    assert services.complete(ow, decide, "ecology_chief", {"decision": "approve", "opinion": "准予许可"}) == "DECIDED"
    assert services.verify_history(ow, reviewed) == {"cases_checked": 1, "problems": []}


def test_the_steps_pause_is_not_ended_or_doubled_by_hand(ow, reviewed):
    with pytest.raises(Conflict, match="ends when that step is completed"):
        services.resume(ow, reviewed, "ecology_reviewer", "提前结束")
    with pytest.raises(Conflict, match="is SUSPENDED"):
        services.suspend(ow, reviewed, "ecology_reviewer", "专家评审", "另行组织专家论证")
    assert _pauses(ow, reviewed) == [("special_procedure", "技术评估", "technical-review", False, None)]
    assert services.case_detail(ow, reviewed)["status"] == "SUSPENDED"
