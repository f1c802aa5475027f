"""Walk cases through the outdoor-advertising item while capturing what a clerk saw after every step."""
from __future__ import annotations

from sqlalchemy import select

from engine import services
from engine.bootstrap import OneWindow
from engine.history import case_state_hash
from engine.store.models import Case
from engine.store.uow import reading
from tests.integration.helpers import new_ad_case, only_task


def snapshot(ow: OneWindow, case_no: str) -> dict:
    """What the running system showed right now: last event, status, open tasks and the state hash."""
    detail = services.case_detail(ow, case_no)
    with reading(ow.db) as s:
        case = s.scalar(select(Case).where(Case.case_no == case_no))
        digest = case_state_hash(case)
    return {"seq": detail["events"][-1]["seq"], "status": detail["status"], "result": detail["result"],
            "open": sorted((t["bpmn_id"], t["task_id"], t["assignee"]) for t in detail["open_tasks"]),
            "state_hash": digest}


def returned_twice_then_approved(ow: OneWindow) -> tuple[str, list[dict]]:
    """A case that loops back twice (review → rework, decide → review) before approval, with a snapshot per step."""
    case_no = new_ad_case(ow)
    shots = [snapshot(ow, case_no)]

    def step(action) -> None:
        action()
        shots.append(snapshot(ow, case_no))

    step(lambda: services.accept(ow, case_no, "window1", "材料齐全"))
    review = only_task(ow, "reviewer1", "review", case_no)
    step(lambda: services.claim(ow, review, "reviewer1"))
    step(lambda: services.complete(ow, review, "reviewer1", {"decision": "return", "opinion": "缺场地证明"}))
    rework = only_task(ow, "window1", "rework", case_no)
    step(lambda: services.claim(ow, rework, "window2"))
    step(lambda: services.unclaim(ow, rework, "window2"))
    step(lambda: services.complete(ow, rework, "window1", {"supplemented": ["场地使用权证明"]}))
    step(lambda: services.complete(ow, only_task(ow, "reviewer1", "review", case_no), "reviewer1",
                                   {"decision": "pass", "opinion": "补正后符合"}))
    step(lambda: services.complete(ow, only_task(ow, "inspector1", "survey", case_no), "inspector1",
                                   {"survey_result": "conforms", "survey_date": "2026-03-11"}))
    step(lambda: services.complete(ow, only_task(ow, "chief1", "decide", case_no), "chief1",
                                   {"decision": "return", "opinion": "请复核"}))
    step(lambda: services.complete(ow, only_task(ow, "reviewer1", "review", case_no), "reviewer1",
                                   {"decision": "pass", "opinion": "复核通过"}))
    step(lambda: services.complete(ow, only_task(ow, "inspector1", "survey", case_no), "inspector1",
                                   {"survey_result": "conforms", "survey_date": "2026-03-12"}))
    step(lambda: services.complete(ow, only_task(ow, "chief1", "decide", case_no), "chief1",
                                   {"decision": "approve", "opinion": "准予", "certificate_no": "HG-7"}))
    return case_no, shots


def many_returns(ow: OneWindow, loops: int) -> tuple[str, list[dict]]:
    """A case returned for rework `loops` times (claim, return, rework: three events a loop), with snapshots."""
    case_no = new_ad_case(ow)
    services.accept(ow, case_no, "window1")
    shots = [snapshot(ow, case_no)]
    for n in range(loops):
        review = only_task(ow, "reviewer1", "review", case_no)
        services.claim(ow, review, "reviewer1")
        shots.append(snapshot(ow, case_no))
        services.complete(ow, review, "reviewer1", {"decision": "return", "opinion": f"第{n + 1}次退回"})
        shots.append(snapshot(ow, case_no))
        services.complete(ow, only_task(ow, "window1", "rework", case_no), "window1", {"supplemented": [f"材料{n}"]})
        shots.append(snapshot(ow, case_no))
    return case_no, shots
