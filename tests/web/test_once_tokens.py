"""One-time form tokens are issued by the server: a double click acts once, a forged or borrowed token acts never."""
from __future__ import annotations

import secrets

from engine import services
from tests.integration.helpers import AD_APPLICATION


def _claim_form(ow, as_user):
    """A received case's intake task, and window1 with the task page (and its tokens) loaded."""
    case_no = services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)["case_no"]
    task_id = services.inbox(ow, "window1")[0]["task_id"]
    clerk = as_user("window1")
    return case_no, task_id, clerk, clerk.tokens(f"/inbox/tasks/{task_id}")


def _tampered(token: str) -> str:
    """The token with one character of its signature changed."""
    # Not the last character: it carries spare bits, so replacing the last two with "xx" still verified about once
    # in a thousand tokens, and this test failed at random.
    at = len(token) - 3
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1:]


def _claims(ow, case_no: str) -> int:
    return [e["type"] for e in services.history(ow, case_no)].count("claimed")


def test_a_double_click_acts_once(ow, as_user):
    case_no, task_id, clerk, tokens = _claim_form(ow, as_user)
    first = clerk.client.post(f"/inbox/tasks/{task_id}/claim", data=tokens)
    again = clerk.client.post(f"/inbox/tasks/{task_id}/claim", data=tokens, headers={"Referer": "http://localhost/inbox/"})
    assert first.status_code == 302 and again.status_code == 302
    assert "已经提交过" in clerk.client.get("/inbox/").get_data(as_text=True)
    assert _claims(ow, case_no) == 1


def test_a_token_the_server_did_not_issue_is_refused(ow, as_user):
    case_no, task_id, clerk, tokens = _claim_form(ow, as_user)
    for forged in (secrets.token_urlsafe(18), _tampered(tokens["once"]), ""):
        response = clerk.client.post(f"/inbox/tasks/{task_id}/claim", data={**tokens, "once": forged})
        assert response.status_code == 400
        assert "表单已失效" in response.get_data(as_text=True)
    assert _claims(ow, case_no) == 0


def test_a_token_issued_to_another_session_is_refused(ow, as_user):
    case_no, task_id, clerk, tokens = _claim_form(ow, as_user)
    colleague = as_user("window1")  # the same user in another browser
    own = colleague.tokens("/auth/me")
    response = colleague.client.post(f"/inbox/tasks/{task_id}/claim", data={**own, "once": tokens["once"]})
    assert response.status_code == 400 and _claims(ow, case_no) == 0
    # The rightful session still has its unused token.
    assert clerk.client.post(f"/inbox/tasks/{task_id}/claim", data=tokens).status_code == 302
    assert _claims(ow, case_no) == 1


def test_a_token_older_than_a_day_is_refused(ow, as_user, clock):
    case_no, task_id, clerk, tokens = _claim_form(ow, as_user)
    clock.advance(days=1, minutes=1)
    response = clerk.client.post(f"/inbox/tasks/{task_id}/claim", data=tokens)
    assert response.status_code == 400 and _claims(ow, case_no) == 0
