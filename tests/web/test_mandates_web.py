"""Proxy mandates on the web: the agent's record waits at the proxy point until the applicant confirms it in the
portal (/mine); the trail shows on both pages; the mandated agent answers a review-stage correction request."""
from __future__ import annotations

from engine import services

MANDATE_FORM = {"applicant": "lisi", "item_code": "outdoor-ad", "valid_from": "2026-03-10",
                "valid_until": "2026-06-30", "consent_method": "signed_form", "consent_reference": "WT-2026-001"}
AD_FORM = {"on_behalf_of": "lisi", "site_address": "村口", "facility_type": "column", "area_sqm": "2",
           "period_months": "12"}
APPLY = "/proxy/apply/outdoor-ad"
APPLY_ONLINE = "/items/outdoor-ad/apply"  # a page with a form, whose tokens a crafted request reuses


def _recorded_by_agent(ow, agent) -> int:
    """Agent1 records lisi's mandate at the proxy point; returns its id."""
    assert agent.submit("/proxy/", "/proxy/mandates", MANDATE_FORM).status_code == 302
    (mandate,) = services.proxy.list_mandates(ow, "lisi")
    return mandate["id"]


def _post_crafted(browser, form_page: str, url: str):
    """Post to `url` with the tokens of another form (on `form_page`), as someone crafting the request would."""
    return browser.client.post(url, data=browser.tokens(form_page))


def _statuses(ow) -> list[str]:
    return [m["status"] for m in services.proxy.list_mandates(ow, "lisi")]


def test_the_agent_acts_only_after_the_applicant_confirms_in_the_portal(as_user, ow):
    agent = as_user("agent1")
    mandate_id = _recorded_by_agent(ow, agent)
    point = agent.client.get("/proxy/").get_data(as_text=True)
    assert "待确认" in point and f'href="{APPLY}?on_behalf_of=lisi"' not in point
    refused = agent.submit(f"{APPLY}?on_behalf_of=lisi", APPLY, AD_FORM)
    assert refused.status_code == 403 and services.portal.my_cases(ow, "lisi") == []

    applicant = as_user("lisi")
    page = applicant.client.get("/mine").get_data(as_text=True)
    assert 'id="pending-mandates"' in page and f'id="confirm-{mandate_id}"' in page and "WT-2026-001" in page
    confirmed = applicant.submit("/mine", f"/mine/mandates/{mandate_id}/confirm", {})
    assert confirmed.status_code == 302 and _statuses(ow) == ["confirmed"]
    assert 'id="pending-mandates"' not in applicant.client.get("/mine").get_data(as_text=True)

    assert agent.submit(f"{APPLY}?on_behalf_of=lisi", APPLY, AD_FORM).status_code == 302
    assert services.portal.my_cases(ow, "lisi")[0]["channel"] == "proxy"
    point = agent.client.get("/proxy/").get_data(as_text=True)
    assert f'id="mandate-{mandate_id}-trail"' in point and "委托确认" in point and "申请人本人确认" in point


def test_a_declined_mandate_stays_declined_and_only_its_applicant_answers_it(as_user, ow):
    agent = as_user("agent1")
    mandate_id = _recorded_by_agent(ow, agent)
    # Another applicant and the agent themselves are turned away; nothing changes.
    other = as_user("zhangsan")
    assert _post_crafted(other, APPLY_ONLINE, f"/mine/mandates/{mandate_id}/confirm").status_code == 403
    assert _post_crafted(agent, "/proxy/", f"/mine/mandates/{mandate_id}/confirm").status_code == 403
    applicant = as_user("lisi")
    # A form without its CSRF token is refused before the use case runs.
    assert applicant.client.post(f"/mine/mandates/{mandate_id}/confirm").status_code == 400
    assert _statuses(ow) == ["pending"]

    declined = applicant.submit("/mine", f"/mine/mandates/{mandate_id}/decline", {"reason": "未委托"})
    assert declined.status_code == 302 and _statuses(ow) == ["declined"]
    # The page offers no form for a declined mandate any more; a crafted one is refused as a conflict.
    again = _post_crafted(applicant, APPLY_ONLINE, f"/mine/mandates/{mandate_id}/confirm")
    assert again.status_code == 409 and _statuses(ow) == ["declined"]
    assert agent.submit(f"{APPLY}?on_behalf_of=lisi", APPLY, AD_FORM).status_code == 403
    (mandate,) = services.proxy.list_mandates(ow, "lisi")
    assert [(e["action"], e["actor"]) for e in mandate["events"]] == [("granted", "agent1"), ("declined", "lisi")]


def test_the_applicant_revokes_a_confirmed_mandate_and_the_pages_speak_english(as_user, ow):
    mandate_id = _recorded_by_agent(ow, as_user("agent1"))
    applicant = as_user("lisi")
    applicant.submit("/mine", f"/mine/mandates/{mandate_id}/confirm", {})
    page = applicant.client.get("/mine?lang=en").get_data(as_text=True)
    assert "My proxy mandates" in page and f'id="revoke-{mandate_id}"' in page
    assert applicant.submit("/mine", f"/mine/mandates/{mandate_id}/revoke", {}).status_code == 302
    assert _statuses(ow) == ["revoked"]
    assert "Revoked" in as_user("agent1").client.get("/proxy/?lang=en").get_data(as_text=True)


def test_the_mandated_agent_answers_a_review_stage_correction_in_the_portal(as_user, ow):
    agent = as_user("agent1")
    mandate_id = _recorded_by_agent(ow, agent)
    services.proxy.confirm_mandate(ow, "window1", mandate_id, "核对委托书原件")
    agent.submit(f"{APPLY}?on_behalf_of=lisi", APPLY, AD_FORM)
    case_no = services.portal.my_cases(ow, "lisi")[0]["case_no"]
    services.accept(ow, case_no, "window1", "材料齐全")
    services.request_correction(ow, case_no, "reviewer1", ["结构安全说明"], "需补充结构安全说明")
    assert 'id="answer-notice"' in agent.client.get(f"/mine/{case_no}").get_data(as_text=True)
    answered = agent.submit(f"/mine/{case_no}", f"/mine/{case_no}/supplement", {"note": "已代为补交"},
                            content_type="multipart/form-data")
    assert answered.status_code == 302
    received = [e for e in services.history(ow, case_no) if e["type"] == "correction_received"]
    assert [(e["actor"], e["acting_for"]) for e in received] == [("agent1", "lisi")]
