"""Small helpers to walk cases through their steps in tests."""
from __future__ import annotations

from engine import services
from engine.bootstrap import OneWindow

AD_APPLICATION = {"site_address": "解放路88号东墙", "facility_type": "wall", "area_sqm": 12.5, "period_months": 24}
WINDOW_APPLICANT = {"kind": "organisation", "name": "杭州示例餐饮有限公司", "id_type": "uscc",
                    "id_no": "91330100MA2XXXXX0X", "phone": "0571-88000000"}


def only_task(ow: OneWindow, username: str, bpmn_id: str, case_no: str | None = None) -> str:
    """The single open task with `bpmn_id` (of `case_no`, if given) visible to `username`."""
    tasks = [t for t in services.inbox(ow, username)
             if t["bpmn_id"] == bpmn_id and case_no in (None, t["case_no"])]
    assert len(tasks) == 1, f"{username} sees {len(tasks)} '{bpmn_id}' tasks"
    return tasks[0]["task_id"]


def new_ad_case(ow: OneWindow) -> str:
    """An outdoor-advertising application submitted online by the demo applicant."""
    return services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)["case_no"]


def accepted_ad_case(ow: OneWindow) -> str:
    """An outdoor-advertising case accepted at the window."""
    case_no = new_ad_case(ow)
    services.accept(ow, case_no, "window1", "材料齐全")
    return case_no
