"""Shared steps for the routing-pattern tests: applications, row counts and task lookups."""
from __future__ import annotations

from sqlalchemy import func, select

from engine import services
from engine.bootstrap import OneWindow
from engine.store.models import Case, CaseEvent, CaseMaterial, Deadline, Department, Opinion, ProxyMandate, WorkItem
from engine.store.uow import reading
from tests.integration.helpers import only_task

COMPANY = {"company_name": "杭州示例科技有限公司", "company_type": "llc", "registered_capital": 100,
           "address": "杭州市西湖区文三路1号", "legal_representative": "张三", "business_scope": "软件开发"}
PLANNING = {"project_name": "示例住宅小区一期", "site_address": "杭州市西湖区三墩镇", "floor_area_sqm": 52000,
            "land_use_permit_no": "地字第330100202600012号"}
FOOD = {"business_name": "示例餐饮店", "premises_address": "杭州市上城区解放路9号", "business_type": "catering",
        "commitment": False}
MEDICAL = {"institution_name": "示例康复医院", "institution_type": "hospital", "beds": 120,
           "address": "杭州市拱墅区湖墅南路1号"}
ALLOWANCE = {"household_head": "王五", "village": "示例村", "household_size": 3, "monthly_income_per_person": 420.0}
CONSTRUCTION = {"project_name": "示例住宅小区一期1号楼", "site_address": "杭州市西湖区三墩镇",
                "planning_permit_no": "建字第330100202600031号", "contractor_name": "示例建设集团有限公司",
                "contract_price": 8600.0, "floor_area_sqm": 52000, "construction_days": 720}


def row_counts(ow: OneWindow) -> tuple[int, ...]:
    """Counts of the rows a refused request must leave untouched."""
    with reading(ow.db) as s:
        return tuple(s.scalar(select(func.count()).select_from(model))
                     for model in (Case, CaseEvent, WorkItem, CaseMaterial, Deadline, Opinion, ProxyMandate))


def accepted(ow: OneWindow, item_code: str, data: dict, applicant: str = "zhangsan") -> str:
    """A case applied for online and accepted at the window."""
    case_no = services.apply(ow, item_code, applicant, data)["case_no"]
    assert services.accept(ow, case_no, "window1", "材料齐全") == "ACCEPTED"
    return case_no


def complete_only(ow: OneWindow, username: str, bpmn_id: str, data: dict, case_no: str | None = None) -> str:
    """Complete the single open `bpmn_id` task `username` sees; returns the case status."""
    return services.complete(ow, only_task(ow, username, bpmn_id, case_no), username, data)


def opinions(ow: OneWindow, case_no: str) -> list[tuple[str, str, str | None]]:
    """(BPMN id, department code, decision) of each opinion of a case, in order."""
    with reading(ow.db) as s:
        case_id = s.scalar(select(Case.id).where(Case.case_no == case_no))
        rows = s.execute(select(Opinion.bpmn_id, Department.code, Opinion.decision)
                         .join(Department, Department.id == Opinion.department_id)
                         .where(Opinion.case_id == case_id).order_by(Opinion.id)).all()
        return [tuple(r) for r in rows]
