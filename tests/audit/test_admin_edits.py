"""Administrative edits: contact details only, with a reason, before/after in the history, checked by verify."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from engine import services
from engine.errors import Forbidden, InvalidInput
from engine.services import admin_edits, audit
from engine.store.models import Case
from engine.store.uow import reading, writing
from tests.audit.case_admin import footprint, last_event, staff  # noqa: F401 (a fixture)
from tests.integration.helpers import accepted_ad_case

# Every test here also needs the second reviewer and the market bureau's head.
pytestmark = pytest.mark.usefixtures("staff")


def _applicant(ow, case_no: str) -> dict:
    with reading(ow.db) as s:
        return s.scalar(select(Case.applicant).where(Case.case_no == case_no))


def test_a_head_corrects_phone_address_and_contact_person_then_clears_one(ow):
    case_no = accepted_ad_case(ow)
    name = _applicant(ow, case_no)["name"]
    result = admin_edits.edit_contact(ow, case_no, "head1", {"phone": "0571-87000000", "address": "杭州市解放路1号",
                                                             "contact_name": "张联系"}, "申请人来电更正电话")
    assert result["after"] == {"phone": "0571-87000000", "address": "杭州市解放路1号", "contact_name": "张联系"}
    event = last_event(ow, case_no)
    assert (event["type"], event["actor"]) == ("administrative_edit", "head1")
    assert event["payload"]["reason"] == "申请人来电更正电话"
    assert set(event["payload"]["before"]) == {"phone", "address", "contact_name"}
    admin_edits.edit_contact(ow, case_no, "admin", {"address": ""}, "地址作废")
    stored = _applicant(ow, case_no)
    assert "address" not in stored and stored["phone"] == "0571-87000000" and stored["name"] == name
    assert last_event(ow, case_no)["payload"]["after"] == {"address": None}
    assert audit.verify_history(ow, case_no)["problems"] == []
    assert services.casefile.case_file(ow, case_no, "head1")["applicant"]["contact_name"] == "张联系"


@pytest.mark.parametrize(("actor", "changes", "reason", "error"), [
    ("head1", {"name": "别人"}, "改名", InvalidInput),                 # the applicant's identity is not contact data
    ("head1", {"site_address": "别处"}, "改申请内容", InvalidInput),     # nor is the application the decision used
    ("head1", {"phone": "0571-87000000"}, "", InvalidInput),           # a reason is required
    ("head1", {"phone": "not a phone"}, "格式不对", InvalidInput),       # the applicant form's own rule
    ("head1", {"contact_name": "长" * 101}, "太长", InvalidInput),
    ("head1", {}, "什么也不改", InvalidInput),
    ("reviewer1", {"phone": "0571-87000000"}, "审查员", Forbidden),
    ("auditor1", {"phone": "0571-87000000"}, "审计员", Forbidden),
    ("market_head", {"phone": "0571-87000000"}, "别的局", Forbidden),
])
def test_refusals_leave_the_case_unchanged(ow, actor, changes, reason, error):
    case_no = accepted_ad_case(ow)
    before, applicant = footprint(ow, case_no), _applicant(ow, case_no)
    with pytest.raises(error):
        admin_edits.edit_contact(ow, case_no, actor, changes, reason)
    assert footprint(ow, case_no) == before and _applicant(ow, case_no) == applicant


def test_a_phone_number_changed_behind_the_history_is_named(ow):
    case_no = accepted_ad_case(ow)
    admin_edits.edit_contact(ow, case_no, "head1", {"phone": "0571-87000000"}, "更正")
    applicant = {**_applicant(ow, case_no), "phone": "0571-11111111"}
    value = "CAST(:a AS JSON)" if not ow.db.is_sqlite else ":a"
    with writing(ow.db) as s:
        s.execute(text(f'UPDATE "case" SET applicant = {value} WHERE case_no = :n'),
                  {"a": json.dumps(applicant), "n": case_no})
    problems = audit.verify_history(ow, case_no)["problems"]
    assert [(p["check"], p["seq"]) for p in problems] == [("applicant", None)]
    assert "phone" in problems[0]["problem"]
