"""The window's check of proxy mandates (/inbox/mandates): a clerk whose centre covers the agent's point verifies the
signed form an agent brings and confirms the mandate with a note, or ends it; nobody else may, and nothing changes
when they try."""
from __future__ import annotations

from datetime import date

import pytest

from engine import services
from engine.errors import Forbidden
from tests.integration.helpers import AD_APPLICATION
from tests.staff import add_staff

PAGE = "/inbox/mandates"
MANDATE_FORM = {"applicant": "lisi", "item_code": "outdoor-ad", "valid_from": "2026-03-10",
                "valid_until": "2026-06-30", "consent_method": "signed_form", "consent_reference": "WT-2026-007"}
# A village point under the county centre, outside the town centre town_window works at, and its agent.
HILL_VILLAGE = """
[[departments]]
code = "hill-village"
name = "山前村代办点"
name_en = "Hill Village Proxy Point"
level = "village"
parent = "county-centre"

[[users]]
username = "agent3"
display_name = "山代办"
department = "hill-village"
groups = ["proxy_agent"]
"""


def _recorded_by_agent(ow, agent) -> int:
    """Agent1 records lisi's mandate at the village point through the proxy-point page; returns its id."""
    assert agent.submit("/proxy/", "/proxy/mandates", MANDATE_FORM).status_code == 302
    (mandate,) = services.proxy.list_mandates(ow, "lisi")
    return mandate["id"]


def _mandate(ow, username: str, mandate_id: int) -> dict:
    return next(m for m in services.proxy.list_mandates(ow, username) if m["id"] == mandate_id)


def _trail(ow, username: str, mandate_id: int) -> list[tuple]:
    return [(e["action"], e["actor"], e["detail"]) for e in _mandate(ow, username, mandate_id)["events"]]


def test_a_window_clerk_verifies_the_signed_form_and_the_agent_may_then_apply(as_user, ow):
    mandate_id = _recorded_by_agent(ow, as_user("agent1"))
    clerk = as_user("town_window")
    assert f'href="{PAGE}"' in clerk.client.get("/inbox/").get_data(as_text=True)
    page = clerk.client.get(PAGE).get_data(as_text=True)
    start = page.index(f'<tr id="mandate-{mandate_id}">')
    row = page[start:page.index("</tr>", start)]
    for shown in ("李四", "lisi", "褚代办", "agent1", "村代办点", "outdoor-ad", "2026-03-10", "2026-06-30", "签字委托书",
                  "WT-2026-007", "待确认", f'id="mandate-{mandate_id}-trail"', "委托登记",
                  f'id="confirm-{mandate_id}"', f'id="revoke-{mandate_id}"', 'name="once"'):
        assert shown in row, shown
    # Until the clerk confirms it, the agent is refused.
    with pytest.raises(Forbidden, match="not confirmed yet"):
        services.apply(ow, "outdoor-ad", "agent1", AD_APPLICATION, on_behalf_of="lisi")

    # A confirmation without a note of what was checked is sent back, and changes nothing.
    blank = clerk.submit(PAGE, f"{PAGE}/{mandate_id}/confirm", {"note": "  "})
    assert blank.status_code == 422 and 'id="error-note"' in blank.get_data(as_text=True)
    assert _mandate(ow, "lisi", mandate_id)["status"] == "pending"

    confirmed = clerk.submit(PAGE, f"{PAGE}/{mandate_id}/confirm", {"note": "已核对委托书原件 WT-2026-007"})
    assert confirmed.status_code == 302 and confirmed.headers["Location"].endswith(PAGE)
    mandate = _mandate(ow, "lisi", mandate_id)
    assert (mandate["status"], mandate["confirmed_by"]) == ("confirmed", "town_window")
    assert [e[:2] for e in _trail(ow, "lisi", mandate_id)] == [("granted", "agent1"), ("confirmed", "town_window")]
    assert _trail(ow, "lisi", mandate_id)[-1][2] == {"via": "window", "note": "已核对委托书原件 WT-2026-007"}
    page = clerk.client.get(PAGE).get_data(as_text=True)
    assert 'id="no-pending-mandates"' in page and f'id="confirm-{mandate_id}"' not in page
    assert f'id="revoke-{mandate_id}"' in page  # now among the mandates in force

    case_no = services.apply(ow, "outdoor-ad", "agent1", AD_APPLICATION, on_behalf_of="lisi")["case_no"]
    applied = next(e for e in services.history(ow, case_no) if e["type"] == "applied")
    assert (applied["actor"], applied["acting_for"]) == ("agent1", "lisi")
    point = as_user("agent1").client.get("/proxy/").get_data(as_text=True)
    trail = point[point.index(f'id="mandate-{mandate_id}-trail"'):]
    trail = trail[:trail.index("</details>")]
    assert "委托确认 · town_window" in trail and "窗口核验委托书" in trail and "已核对委托书原件 WT-2026-007" in trail


def test_the_page_speaks_english(as_user, ow):
    mandate_id = _recorded_by_agent(ow, as_user("agent1"))
    page = as_user("window1").client.get(f"{PAGE}?lang=en").get_data(as_text=True)
    assert "Pending proxy mandates" in page and "Verify and confirm" in page and "Village Proxy Point" in page
    assert f'id="confirm-{mandate_id}"' in page and "待核验的代办委托" not in page and "核验确认" not in page


def test_a_clerk_whose_centre_does_not_cover_the_point_is_refused_and_nothing_changes(as_user, ow, tmp_path):
    add_staff(ow, tmp_path, HILL_VILLAGE)
    outside = services.proxy.grant_mandate(ow, "agent3", "wangwu", "agent3", "outdoor-ad", date(2026, 3, 10),
                                           date(2026, 6, 30), {"method": "signed_form", "reference": "SQ-001"})
    mandate_id = outside["id"]
    inside = _recorded_by_agent(ow, as_user("agent1"))  # at the village point under the town: on the clerk's page
    clerk = as_user("town_window")
    page = clerk.client.get(PAGE).get_data(as_text=True)
    assert f'id="confirm-{inside}"' in page
    assert f'id="mandate-{mandate_id}"' not in page and "SQ-001" not in page and "山前村代办点" not in page
    for action, data in (("confirm", {"note": "已核对 SQ-001"}), ("revoke", {})):
        response = clerk.submit(PAGE, f"{PAGE}/{mandate_id}/{action}", data)
        assert response.status_code == 403, action
    # The use case itself refuses too (the CLI and the API call it without the page's list).
    with pytest.raises(Forbidden, match="covers the agent's point"):
        services.proxy.revoke_mandate(ow, "town_window", mandate_id)
    assert _mandate(ow, "wangwu", mandate_id)["status"] == "pending"
    assert [e[0] for e in _trail(ow, "wangwu", mandate_id)] == ["granted"]
    # The city centre covers the county's points: its clerk sees the mandate and may confirm it.
    city = as_user("window1")
    assert f'id="confirm-{mandate_id}"' in city.client.get(PAGE).get_data(as_text=True)
    assert city.submit(PAGE, f"{PAGE}/{mandate_id}/confirm", {"note": "已核对 SQ-001"}).status_code == 302
    assert _mandate(ow, "wangwu", mandate_id)["confirmed_by"] == "window1"


def test_anyone_but_a_window_clerk_gets_403_and_nothing_changes(as_user, ow):
    agent = as_user("agent1")
    mandate_id = _recorded_by_agent(ow, agent)
    for username in ("reviewer1", "agent1", "lisi"):
        user = agent if username == "agent1" else as_user(username)
        assert user.client.get(PAGE).status_code == 403, username
        tokens = user.tokens("/auth/me")
        for action in ("confirm", "revoke"):
            response = user.client.post(f"{PAGE}/{mandate_id}/{action}", data={**tokens, "note": "已核对"})
            assert response.status_code == 403, (username, action)
    assert _mandate(ow, "lisi", mandate_id)["status"] == "pending"
    assert [e[0] for e in _trail(ow, "lisi", mandate_id)] == ["granted"]


def test_a_post_without_its_csrf_or_once_token_is_refused(as_user, ow):
    mandate_id = _recorded_by_agent(ow, as_user("agent1"))
    clerk = as_user("town_window")
    for action in ("confirm", "revoke"):
        tokens = clerk.tokens(PAGE)
        no_csrf = {k: v for k, v in tokens.items() if k != "csrf_token"}
        assert clerk.client.post(f"{PAGE}/{mandate_id}/{action}", data={**no_csrf, "note": "x"}).status_code == 400
        no_once = {k: v for k, v in tokens.items() if k != "once"}
        assert clerk.client.post(f"{PAGE}/{mandate_id}/{action}", data={**no_once, "note": "x"}).status_code == 400
    assert _mandate(ow, "lisi", mandate_id)["status"] == "pending"
    assert [e[0] for e in _trail(ow, "lisi", mandate_id)] == ["granted"]


def test_a_window_clerk_revokes_a_mandate_and_a_repeated_form_does_nothing_more(as_user, ow):
    mandate_id = _recorded_by_agent(ow, as_user("agent1"))
    clerk = as_user("town_window")
    tokens = clerk.tokens(PAGE)
    revoked = clerk.client.post(f"{PAGE}/{mandate_id}/revoke", data=tokens)
    assert revoked.status_code == 302 and _mandate(ow, "lisi", mandate_id)["status"] == "revoked"
    again = clerk.client.post(f"{PAGE}/{mandate_id}/revoke", data=tokens, headers={"Referer": f"http://localhost{PAGE}"})
    assert again.status_code == 302
    assert [(e[0], e[1]) for e in _trail(ow, "lisi", mandate_id)] == [("granted", "agent1"), ("revoked", "town_window")]
    assert f'id="mandate-{mandate_id}"' not in clerk.client.get(PAGE).get_data(as_text=True)
