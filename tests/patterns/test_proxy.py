"""Proxy handling (代办): a village agent applies, supplements, tracks and receives the result for the applicant."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from engine import services
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.store.models import ProxyMandateEvent
from engine.store.uow import reading
from tests.integration.helpers import AD_APPLICATION
from tests.patterns.helpers import ALLOWANCE, COMPANY, complete_only, row_counts

CONSENT = {"method": "signed_form", "reference": "代办委托书 2026-031"}


def mandate(ow, agent: str = "agent1", item: str = "min-living-allowance", until: date = date(2026, 6, 30)) -> dict:
    """Wangwu's signed mandate for `agent`, recorded by the agent at the village point and confirmed by wangwu."""
    granted = services.proxy.grant_mandate(ow, agent, "wangwu", agent, item, date(2026, 3, 1), until, CONSENT)
    assert granted["status"] == "pending"
    return services.proxy.confirm_mandate(ow, "wangwu", granted["id"])


def test_the_allowance_runs_village_proxy_to_town_to_county_with_acting_for_recorded(ow):
    mandate(ow)
    made = services.apply(ow, "min-living-allowance", "agent1", ALLOWANCE, on_behalf_of="wangwu")
    case_no = made["case_no"]
    assert [t["bpmn_id"] for t in services.inbox(ow, "town_window")] == ["intake"]
    assert services.accept(ow, case_no, "town_window", "材料齐全") == "ACCEPTED"
    complete_only(ow, "town_civil_reviewer", "town_review", {"decision": "pass", "opinion": "入户调查属实"})
    complete_only(ow, "town_civil_reviewer", "public_notice", {"objections": "none", "notice_from": "2026-03-11"})
    # The county's own process: its task is in the county bureau's inbox, not the town's.
    assert services.inbox(ow, "town_civil_reviewer") == []
    assert complete_only(ow, "county_civil_reviewer", "higher_review", {"decision": "approve", "opinion": "同意纳入低保"}) \
        == "DECIDED"
    assert [c["case_no"] for c in services.proxy.proxy_cases(ow, "agent1")] == [case_no]
    assert services.proxy.receive_result(ow, case_no, "agent1") == "DELIVERED"
    detail = services.case_detail(ow, case_no)
    assert detail["channel"] == "proxy"
    by_type = {e["type"]: e for e in detail["events"]}
    assert (by_type["applied"]["actor"], by_type["applied"]["acting_for"]) == ("agent1", "wangwu")
    assert (by_type["delivered"]["actor"], by_type["delivered"]["acting_for"]) == ("agent1", "wangwu")
    assert services.verify_history(ow, case_no)["problems"] == []


def test_an_expired_mandate_refuses_and_creates_nothing(ow, clock):
    mandate(ow, until=date(2026, 3, 20))
    clock.set(clock.now().replace(month=4))
    before = row_counts(ow)
    with pytest.raises(Forbidden, match="not valid on 2026-04"):
        services.apply(ow, "min-living-allowance", "agent1", ALLOWANCE, on_behalf_of="wangwu")
    assert row_counts(ow) == before


def test_a_mandate_for_another_item_or_another_agent_refuses(ow):
    mandate(ow, item="company-registration")
    before = row_counts(ow)
    with pytest.raises(Forbidden, match="does not cover item 'min-living-allowance'"):
        services.apply(ow, "min-living-allowance", "agent1", ALLOWANCE, on_behalf_of="wangwu")
    with pytest.raises(Forbidden, match="no mandate"):
        services.apply(ow, "company-registration", "agent2", COMPANY, on_behalf_of="wangwu")
    with pytest.raises(Forbidden, match="not a proxy agent"):
        services.apply(ow, "company-registration", "window1", COMPANY, on_behalf_of="wangwu")
    assert row_counts(ow) == before


def test_an_agent_cannot_act_on_someone_elses_case(ow):
    mandate(ow)
    own = services.apply(ow, "min-living-allowance", "zhangsan", ALLOWANCE)["case_no"]
    services.materials.one_time_notice(ow, own, "window1", received=["最低生活保障申请书"])
    before = row_counts(ow)
    with pytest.raises(Forbidden, match="not the proxy agent"):
        services.materials.supplement(ow, own, "agent1", ["家庭成员身份证和户口簿"])
    assert row_counts(ow) == before


def test_a_mandate_needs_recorded_consent_and_a_real_proxy_agent(ow):
    with pytest.raises(InvalidInput) as err:
        services.proxy.grant_mandate(ow, "agent1", "wangwu", "agent1", "min-living-allowance", date(2026, 3, 1),
                                     date(2026, 6, 30), {"method": "signed_form", "reference": " "})
    assert "consent.reference" in err.value.fields
    with pytest.raises(InvalidInput, match="not a proxy agent"):
        services.proxy.grant_mandate(ow, "window1", "wangwu", "window1", "min-living-allowance", date(2026, 3, 1),
                                     date(2026, 6, 30), CONSENT)
    with pytest.raises(Forbidden):
        services.proxy.grant_mandate(ow, "lisi", "wangwu", "agent1", "min-living-allowance", date(2026, 3, 1),
                                     date(2026, 6, 30), CONSENT)
    granted = mandate(ow)
    assert services.proxy.revoke_mandate(ow, "wangwu", granted["id"])["revoked"] is True
    with pytest.raises(Forbidden, match="no mandate"):
        services.apply(ow, "min-living-allowance", "agent1", ALLOWANCE, on_behalf_of="wangwu")


def test_the_agent_supplements_for_the_applicant_after_a_one_time_notice(ow):
    mandate(ow)
    case_no = services.apply(ow, "min-living-allowance", "agent1", ALLOWANCE, on_behalf_of="wangwu")["case_no"]
    services.materials.one_time_notice(ow, case_no, "town_window", received=["最低生活保障申请书", "家庭经济状况核对授权书"])
    assert services.materials.supplement(ow, case_no, "agent1", ["家庭成员身份证和户口簿"])["status"] == "RECEIVED"
    last = services.case_detail(ow, case_no)["events"][-1]
    assert (last["type"], last["actor"], last["acting_for"]) == ("supplemented", "agent1", "wangwu")


# --- consent: a mandate the agent records is pending until someone other than the agent confirms it ---------------

def pending(ow, agent: str = "agent1", applicant: str = "wangwu", item: str = "min-living-allowance") -> dict:
    """A mandate `agent` records at the point, with a consent reference nobody has checked yet."""
    return services.proxy.grant_mandate(ow, agent, applicant, agent, item, date(2026, 3, 1), date(2026, 6, 30), CONSENT)


def trail(ow, mandate_id: int) -> list[tuple[str, str, datetime]]:
    """(action, actor, at) of each row of a mandate's trail, as stored."""
    with reading(ow.db) as s:
        return [tuple(r) for r in s.execute(select(ProxyMandateEvent.action, ProxyMandateEvent.actor,
                                                   ProxyMandateEvent.at)
                                            .where(ProxyMandateEvent.mandate_id == mandate_id)
                                            .order_by(ProxyMandateEvent.id))]


def trail_rows(ow) -> int:
    with reading(ow.db) as s:
        return s.scalar(select(func.count()).select_from(ProxyMandateEvent))


def test_an_agents_own_record_lets_them_act_only_once_the_applicant_confirms(ow):
    granted = pending(ow)
    assert (granted["status"], granted["confirmed_by"]) == ("pending", None)
    before = row_counts(ow), trail_rows(ow)
    with pytest.raises(Forbidden, match="not confirmed yet"):
        services.apply(ow, "min-living-allowance", "agent1", ALLOWANCE, on_behalf_of="wangwu")
    assert (row_counts(ow), trail_rows(ow)) == before
    confirmed = services.proxy.confirm_mandate(ow, "wangwu", granted["id"])
    assert (confirmed["status"], confirmed["confirmed_by"]) == ("confirmed", "wangwu")
    made = services.apply(ow, "min-living-allowance", "agent1", ALLOWANCE, on_behalf_of="wangwu")
    applied = services.case_detail(ow, made["case_no"])["events"][0]
    assert (applied["actor"], applied["acting_for"]) == ("agent1", "wangwu")


def test_an_agent_never_confirms_their_own_mandate_nor_does_another_applicant(ow):
    granted = pending(ow)
    before = row_counts(ow), trail_rows(ow)
    with pytest.raises(Forbidden, match="cannot confirm their own mandate"):
        services.proxy.confirm_mandate(ow, "agent1", granted["id"])
    with pytest.raises(Forbidden, match="only its applicant or a window clerk"):
        services.proxy.confirm_mandate(ow, "lisi", granted["id"])
    with pytest.raises(Forbidden, match="only the applicant"):
        services.proxy.decline_mandate(ow, "agent1", granted["id"])
    with pytest.raises(NotFound):
        services.proxy.confirm_mandate(ow, "wangwu", granted["id"] + 100)
    assert (row_counts(ow), trail_rows(ow)) == before
    assert services.proxy.list_mandates(ow, "agent1")[0]["status"] == "pending"


def test_a_declined_mandate_never_lets_the_agent_act(ow):
    granted = pending(ow)
    declined = services.proxy.decline_mandate(ow, "wangwu", granted["id"], "我没有委托过")
    assert declined["status"] == "declined"
    before = row_counts(ow), trail_rows(ow)
    with pytest.raises(Conflict, match="is declined, not pending"):
        services.proxy.confirm_mandate(ow, "wangwu", granted["id"])
    with pytest.raises(Conflict, match="already declined"):
        services.proxy.revoke_mandate(ow, "agent1", granted["id"])
    with pytest.raises(Forbidden, match="no mandate"):
        services.apply(ow, "min-living-allowance", "agent1", ALLOWANCE, on_behalf_of="wangwu")
    assert (row_counts(ow), trail_rows(ow)) == before


def test_a_mandate_a_window_clerk_records_or_verifies_works_at_once(ow):
    recorded = services.proxy.grant_mandate(ow, "town_window", "wangwu", "agent1", "min-living-allowance",
                                            date(2026, 3, 1), date(2026, 6, 30), CONSENT)
    assert (recorded["status"], recorded["confirmed_by"]) == ("confirmed", "town_window")
    assert services.apply(ow, "min-living-allowance", "agent1", ALLOWANCE, on_behalf_of="wangwu")["case_no"]
    # The clerk who checks the signed form an agent brings confirms it; the applicant need not come in.
    brought = pending(ow, item="company-registration")
    verified = services.proxy.confirm_mandate(ow, "window1", brought["id"], "核对委托书原件")
    assert verified["events"][-1]["detail"] == {"via": "window", "note": "核对委托书原件"}
    assert services.apply(ow, "company-registration", "agent1", COMPANY, on_behalf_of="wangwu")["case_no"]


def test_a_mandate_recorded_by_its_applicant_is_confirmed_at_once(ow):
    own = services.proxy.grant_mandate(ow, "wangwu", "wangwu", "agent2", "min-living-allowance", date(2026, 3, 1),
                                       date(2026, 6, 30), {"method": "online", "reference": "网上授权 0001"})
    assert (own["status"], own["confirmed_by"]) == ("confirmed", "wangwu")
    assert services.apply(ow, "min-living-allowance", "agent2", ALLOWANCE, on_behalf_of="wangwu")["case_no"]


def test_every_change_of_a_mandate_is_one_row_of_its_trail_with_actor_and_time(ow, clock):
    granted = pending(ow)
    t_grant = clock.now()
    clock.advance(hours=1)
    services.proxy.confirm_mandate(ow, "wangwu", granted["id"])
    t_confirm = clock.now()
    clock.advance(hours=1)
    services.proxy.revoke_mandate(ow, "wangwu", granted["id"])
    t_revoke = clock.now()
    assert trail(ow, granted["id"]) == [("granted", "agent1", t_grant), ("confirmed", "wangwu", t_confirm),
                                        ("revoked", "wangwu", t_revoke)]
    declined = pending(ow)
    services.proxy.decline_mandate(ow, "wangwu", declined["id"])
    assert [row[:2] for row in trail(ow, declined["id"])] == [("granted", "agent1"), ("declined", "wangwu")]
    # A clerk's record is both the grant and the confirmation, each on record.
    by_clerk = services.proxy.grant_mandate(ow, "window1", "lisi", "agent1", "outdoor-ad", date(2026, 3, 1),
                                            date(2026, 6, 30), CONSENT)
    assert [row[:2] for row in trail(ow, by_clerk["id"])] == [("granted", "window1"), ("confirmed", "window1")]
    # A refused change writes nothing, and the list shows each mandate with its trail.
    before = trail_rows(ow)
    with pytest.raises(Conflict, match="already revoked"):
        services.proxy.revoke_mandate(ow, "wangwu", granted["id"])
    with pytest.raises(Forbidden):
        services.proxy.revoke_mandate(ow, "lisi", declined["id"])
    assert trail_rows(ow) == before
    listed = {m["id"]: m for m in services.proxy.list_mandates(ow, "agent1")}
    assert [e["action"] for e in listed[granted["id"]]["events"]] == ["granted", "confirmed", "revoked"]
    assert listed[granted["id"]]["events"][1]["at"] == t_confirm.isoformat()


def test_a_window_clerk_lists_the_mandates_at_the_points_their_centre_covers(ow):
    granted = pending(ow)
    assert [m["id"] for m in services.proxy.list_mandates(ow, "town_window")] == [granted["id"]]
    assert services.proxy.list_mandates(ow, "lisi") == []


# --- correction requests (补正): the mandated agent answers them for the applicant ---------------------------------

def _ad_case_under_review_by_proxy(ow) -> str:
    """Lisi's outdoor-ad case, applied for by agent1 under a confirmed mandate, accepted, with materials asked for."""
    granted = pending(ow, applicant="lisi", item="outdoor-ad")
    services.proxy.confirm_mandate(ow, "lisi", granted["id"])
    case_no = services.apply(ow, "outdoor-ad", "agent1", AD_APPLICATION, on_behalf_of="lisi")["case_no"]
    services.accept(ow, case_no, "window1", "材料齐全")
    services.request_correction(ow, case_no, "reviewer1", ["结构安全说明"], "需补充结构安全说明")
    return case_no


def test_the_mandated_agent_answers_a_review_stage_correction_for_the_applicant(ow):
    case_no = _ad_case_under_review_by_proxy(ow)
    services.receive_correction(ow, case_no, "agent1", "已代为补交")
    events = services.case_detail(ow, case_no)["events"]
    assert [(e["type"], e["actor"], e["acting_for"]) for e in events[-2:]] == [
        ("correction_received", "agent1", "lisi"), ("clock_resumed", "agent1", "lisi")]
    assert services.verify_history(ow, case_no)["problems"] == []


def test_an_agent_without_a_mandate_for_the_case_cannot_answer_its_correction(ow):
    case_no = _ad_case_under_review_by_proxy(ow)
    before = row_counts(ow)
    with pytest.raises(Forbidden, match="not the proxy agent"):
        services.receive_correction(ow, case_no, "agent2", "越权")
    (mandate_id,) = [m["id"] for m in services.proxy.list_mandates(ow, "lisi")]
    services.proxy.revoke_mandate(ow, "lisi", mandate_id)
    with pytest.raises(Forbidden, match="no mandate"):
        services.receive_correction(ow, case_no, "agent1", "委托已撤销")
    assert row_counts(ow) == before
    assert services.case_detail(ow, case_no)["events"][-1]["type"] == "clock_paused"
