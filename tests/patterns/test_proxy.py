"""Proxy handling (代办): a village agent applies, supplements, tracks and receives the result for the applicant."""
from __future__ import annotations

from datetime import date

import pytest

from engine import services
from engine.errors import Forbidden, InvalidInput
from tests.patterns.helpers import ALLOWANCE, COMPANY, complete_only, row_counts

CONSENT = {"method": "signed_form", "reference": "代办委托书 2026-031"}


def mandate(ow, agent: str = "agent1", item: str = "min-living-allowance", until: date = date(2026, 6, 30)) -> dict:
    """Wangwu's signed mandate for `agent`, recorded by the agent at the village point."""
    return services.proxy.grant_mandate(ow, agent, "wangwu", agent, item, date(2026, 3, 1), until, CONSENT)


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
