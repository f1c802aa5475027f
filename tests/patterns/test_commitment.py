"""Approval on written commitment (告知承诺制): decided on the commitment, verified afterwards, revoked if false."""
from __future__ import annotations

from engine import services
from tests.patterns.helpers import FOOD, accepted, complete_only


def committed_and_approved(ow) -> str:
    """A food-business licence granted on the applicant's written commitment."""
    case_no = accepted(ow, "food-business", {**FOOD, "commitment": True})
    status = complete_only(ow, "market_chief", "commit_decide", {"decision": "approve", "opinion": "依承诺准予",
                                                                 "certificate_no": "JY13301000001"})
    assert status == "DECIDED"
    return case_no


def test_the_licence_is_granted_on_the_commitment_and_confirmed_by_the_verification(ow):
    case_no = committed_and_approved(ow)
    detail = services.case_detail(ow, case_no)
    assert detail["result"] == "approved" and detail["concluded_at"] is not None
    assert [t["bpmn_id"] for t in detail["open_tasks"]] == ["verify"]
    complete_only(ow, "market_inspector", "verify", {"verification": "truthful", "opinion": "现场与承诺一致",
                                                     "verified_on": "2026-04-01"})
    after = services.case_detail(ow, case_no)
    assert (after["status"], after["result"], after["concluded_at"]) == ("DECIDED", "approved", detail["concluded_at"])


def test_a_false_commitment_revokes_the_licence(ow):
    case_no = committed_and_approved(ow)
    status = complete_only(ow, "market_inspector", "verify", {"verification": "false", "opinion": "无独立加工场所",
                                                              "verified_on": "2026-04-01"})
    detail = services.case_detail(ow, case_no)
    assert (status, detail["result"], detail["open_tasks"]) == ("REVOKED", "revoked", [])
    assert detail["events"][-1]["payload"]["status"] == "REVOKED"
    assert services.verify_history(ow, case_no)["problems"] == []


def test_without_commitment_the_licence_waits_for_the_site_inspection(ow):
    accepted(ow, "food-business", FOOD)
    complete_only(ow, "market_reviewer", "review", {"decision": "pass", "opinion": "材料齐全"})
    assert [t["bpmn_id"] for t in services.inbox(ow, "market_inspector")] == ["inspection"]
