"""Every page of the web app answers its intended role, and the app's security settings are on by default."""
from __future__ import annotations

import pytest

from engine import services
from tests.integration.helpers import AD_APPLICATION
from tests.web.conftest import csrf_of
from web.app import create_app

# (who, url) for every GET page of the app's own blueprints; `{case}` and `{task}` are filled in per test.
PAGES = [
    (None, "/"), (None, "/items/outdoor-ad"), (None, "/track"), (None, "/auth/login"),
    ("zhangsan", "/mine"), ("zhangsan", "/mine/{case}"), ("zhangsan", "/items/outdoor-ad/apply"),
    ("zhangsan", "/receipt"), ("zhangsan", "/auth/me"),
    ("window1", "/inbox/"), ("window1", "/inbox/tasks/{task}"), ("window1", "/inbox/cases/{case}"),
    ("agent1", "/proxy/"), ("agent1", "/proxy/apply/outdoor-ad?on_behalf_of=lisi"),
    ("designer1", "/design/"), ("designer1", "/design/items/outdoor-ad/v1"),
    ("designer1", "/design/items/outdoor-ad/upload"),
    (None, "/api/v1/openapi.json"), (None, "/api/v1/items"),
]


def test_every_page_renders_for_its_role(app, ow, as_user, browser):
    case_no = services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)["case_no"]
    task_id = services.inbox(ow, "window1")[0]["task_id"]
    seen = set()
    for who, url in PAGES:
        client = (as_user(who) if who else browser).client
        response = client.get(url.format(case=case_no, task=task_id), follow_redirects=True)
        assert response.status_code == 200, url
        seen.add(url.split("?")[0])
    # Token-only API reads are covered in test_api; downloads in test_portal_and_inbox; /audit by its own area.
    skipped = {"inbox.material", "api.inbox", "api.case", "api.history", "static"}
    rules = {r.rule for r in app.url_map.iter_rules()
             if "GET" in r.methods and r.endpoint not in skipped and not r.endpoint.startswith("audit.")}
    shapes = {r.replace("<case_no>", "{case}").replace("<task_id>", "{task}").replace("<code>", "outdoor-ad")
              .replace("v<int:version>", "v1") for r in rules}
    assert shapes <= seen, f"pages without a test: {sorted(shapes - seen)}"


@pytest.mark.parametrize("url", ["/inbox/", "/design/", "/proxy/", "/mine", "/auth/me"])
def test_signed_out_visitors_are_sent_to_sign_in(browser, url):
    response = browser.client.get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


def test_cookies_are_secure_and_http_only_by_default(ow):
    app = create_app(ow)
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    response = app.test_client().get("/")
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["X-Content-Type-Options"] == "nosniff"


def test_sign_in_only_redirects_to_local_pages(browser):
    page = browser.client.get("/auth/login?next=https://evil.example/")
    response = browser.client.post("/auth/login?next=https://evil.example/", data={
        "username": "window1", "password": "demo-1234", "csrf_token": csrf_of(page)})
    assert response.headers["Location"] == "/inbox/"
