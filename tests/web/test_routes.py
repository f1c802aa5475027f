"""Every page of the web app answers its intended role, every write route refuses everyone else (signed out, wrong
role, another department, no CSRF token), and the app's security settings are on by default."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine import services
from engine.services import extension_requests
from engine.store.models import Case, CaseEvent, WorkItem
from engine.store.requests_models import ExtensionRequest
from engine.store.uow import reading
from tests.integration.helpers import AD_APPLICATION
from tests.staff import add_staff
from tests.web.conftest import csrf_of
from web.app import create_app

# (who, url) for every GET page of the app's own blueprints; `{case}` and `{task}` are filled in per test.
PAGES = [
    (None, "/"), (None, "/items/outdoor-ad"), (None, "/track"), (None, "/auth/login"),
    ("zhangsan", "/mine"), ("zhangsan", "/mine/{case}"), ("zhangsan", "/items/outdoor-ad/apply"),
    ("zhangsan", "/receipt"), ("zhangsan", "/auth/me"),
    ("window1", "/inbox/"), ("window1", "/inbox/tasks/{task}"), ("window1", "/inbox/cases/{case}"),
    ("window1", "/inbox/mandates"),
    ("agent1", "/proxy/"), ("agent1", "/proxy/apply/outdoor-ad?on_behalf_of=lisi"),
    ("designer1", "/design/"), ("designer1", "/design/items/outdoor-ad/v1"),
    ("designer1", "/design/items/outdoor-ad/upload"),
    ("designer1", "/design/catalogue"), ("designer1", "/design/catalogue/upload"),
    ("designer1", "/design/catalogue/process/county-allowance-review"),
    ("designer1", "/design/catalogue/process/county-allowance-review/v1"),
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
    shapes = {r.replace("<any(process, bundle):kind>/<code>", "process/county-allowance-review")
              .replace("<case_no>", "{case}").replace("<task_id>", "{task}").replace("<code>", "outdoor-ad")
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


# --- every write route (POST): who may post, and what everyone else gets --------------------------------------

# endpoint → (url, a user of the right role or None for public forms, a signed-in user of a wrong role or None
# when any signed-in user may post). The JSON API is CSRF-exempt by design and covered by test_api.
WRITES = {
    "auth.login": ("/auth/login", None, None),
    "auth.logout": ("/auth/logout", "zhangsan", None),
    "auth.new_token": ("/auth/tokens", "zhangsan", None),
    "auth.revoke_token": ("/auth/tokens/1/revoke", "zhangsan", None),
    "auth.absence": ("/auth/absence", "reviewer1", None),
    "portal.track": ("/track", None, None),
    "portal.rate": ("/rate", None, None),
    "portal.complain": ("/complain", None, None),
    "portal.apply": ("/items/outdoor-ad/apply", "zhangsan", "window1"),
    "portal.supplement": ("/mine/{case}/supplement", "zhangsan", None),
    "portal.confirm_mandate": ("/mine/mandates/1/confirm", "lisi", "window1"),
    "portal.decline_mandate": ("/mine/mandates/1/decline", "lisi", "window1"),
    "portal.revoke_mandate": ("/mine/mandates/1/revoke", "lisi", "window1"),
    "inbox.claim": ("/inbox/tasks/{task}/claim", "reviewer1", "zhangsan"),
    "inbox.unclaim": ("/inbox/tasks/{task}/unclaim", "reviewer1", "zhangsan"),
    "inbox.complete": ("/inbox/tasks/{task}/complete", "reviewer1", "zhangsan"),
    "inbox.reassign": ("/inbox/tasks/{task}/reassign", "head1", "reviewer1"),
    "inbox.correction": ("/inbox/cases/{case}/correction", "reviewer1", "zhangsan"),
    "inbox.suspend": ("/inbox/cases/{case}/suspend", "reviewer1", "window1"),
    "inbox.resume": ("/inbox/cases/{case}/resume", "reviewer1", "window1"),
    "inbox.extend": ("/inbox/cases/{case}/extend", "head1", "reviewer1"),
    "inbox.contact": ("/inbox/cases/{case}/contact", "head1", "reviewer1"),
    "inbox.confirm_mandate": ("/inbox/mandates/1/confirm", "window1", "reviewer1"),
    "inbox.revoke_mandate": ("/inbox/mandates/1/revoke", "window1", "reviewer1"),
    "extensions.ask": ("/inbox/tasks/{task}/extension-request", "reviewer1", "zhangsan"),
    "extensions.approve": ("/inbox/extension-requests/{request}/approve", "head1", "reviewer1"),
    "extensions.decline": ("/inbox/extension-requests/{request}/decline", "head1", "reviewer1"),
    "proxy.new_mandate": ("/proxy/mandates", "agent1", "zhangsan"),
    "proxy.revoke_mandate": ("/proxy/mandates/1/revoke", "agent1", "zhangsan"),
    "proxy.apply": ("/proxy/apply/outdoor-ad", "agent1", "zhangsan"),
    "proxy.deliver": ("/proxy/cases/{case}/deliver", "agent1", "zhangsan"),
    "design.upload": ("/design/items/outdoor-ad/upload", "designer1", "window1"),
    "design.deploy": ("/design/items/outdoor-ad/deploy", "designer1", "window1"),
    "design.catalogue_upload": ("/design/catalogue/upload", "designer1", "window1"),
    "design.catalogue_deploy": ("/design/catalogue/deploy", "designer1", "window1"),
    "audit.verify": ("/audit/verify", "auditor1", "window1"),
    "audit.rectify": ("/audit/reviews/{case}/rectify", "supervisor1", "auditor1"),
    "audit.advance_complaint": ("/audit/complaints/1/advance", "supervisor1", "auditor1"),
}
# Routes on a case or task of the urban-management bureau, posted by staff of the market bureau with the right role.
# (A claim goes to an unclaimed task: claiming a held one is a conflict whoever asks.)
OUTSIDER_URLS = {"inbox.claim": "/inbox/tasks/{free_task}/claim"}
OUTSIDERS = {
    "inbox.claim": "market_reviewer", "inbox.unclaim": "market_reviewer", "inbox.complete": "market_reviewer",
    "inbox.correction": "market_reviewer", "inbox.suspend": "market_reviewer", "inbox.resume": "market_reviewer",
    "inbox.extend": "market_head", "inbox.contact": "market_head", "inbox.reassign": "market_head",
    "extensions.ask": "market_reviewer", "extensions.approve": "market_head", "extensions.decline": "market_head",
    "portal.supplement": "lisi",
}
# What the outsiders post: enough for the action to go through if the department check were missing.
FILLED = {"reason": "跨部门操作测试", "days": "2", "missing": "场地使用权证明", "procedure": "专家评审",
          "expected_days": "3", "decision": "approve", "opinion": "同意", "to": "market_reviewer",
          "phone": "0571-87000000", "note": "补交材料"}


@pytest.fixture
def scene(app, ow, tmp_path):
    """An accepted urban-management case whose review task reviewer1 holds, with a pending extension request."""
    add_staff(ow, tmp_path)
    case_no = services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)["case_no"]
    services.accept(ow, case_no, "window1", "材料齐全")
    task_id = next(t["task_id"] for t in services.inbox(ow, "reviewer1") if t["case_no"] == case_no)
    services.claim(ow, task_id, "reviewer1")
    request_id = extension_requests.request_extension(ow, task_id, "reviewer1", 2, "等待专家意见")["id"]
    free_case = services.apply(ow, "outdoor-ad", "lisi", AD_APPLICATION)["case_no"]
    services.accept(ow, free_case, "window1", "材料齐全")
    free_task = next(t["task_id"] for t in services.inbox(ow, "reviewer1") if t["case_no"] == free_case)
    return {"case": case_no, "task": task_id, "request": request_id, "free_task": free_task}


def _url(endpoint: str, scene: dict) -> str:
    return WRITES[endpoint][0].format(**scene)


def _footprint(ow, scene: dict) -> tuple:
    """What any change to the scene's case moves: row version, event count, chain head, task holder, request."""
    with reading(ow.db) as s:
        case = s.scalar(select(Case).where(Case.case_no == scene["case"]))
        events = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id))
        holders = tuple(s.scalar(select(WorkItem.assignee).where(WorkItem.task_id == scene[key]))
                        for key in ("task", "free_task"))
        asked = s.scalar(select(ExtensionRequest.status).where(ExtensionRequest.id == scene["request"]))
        return case.row_version, events, case.last_hash, holders, asked


def _posting_routes(app) -> set[str]:
    return {r.endpoint for r in app.url_map.iter_rules()
            if "POST" in r.methods and not r.endpoint.startswith("api.")}


def test_every_write_route_is_in_the_table(app):
    assert _posting_routes(app) <= set(WRITES), f"write routes without a test: {sorted(_posting_routes(app) - set(WRITES))}"


def test_signed_out_posts_to_signed_in_routes_go_to_sign_in(app, ow, scene, browser):
    before = _footprint(ow, scene)
    for endpoint, (_, right, _wrong) in WRITES.items():
        if right is None:
            continue
        tokens = browser.tokens("/track")
        response = browser.client.post(_url(endpoint, scene), data={**tokens, **FILLED})
        assert response.status_code == 302, endpoint
        assert response.headers["Location"].startswith("/auth/login"), endpoint
    assert _footprint(ow, scene) == before


def test_posts_by_a_wrong_role_are_forbidden(app, ow, scene, as_user):
    before, clients = _footprint(ow, scene), {}
    for endpoint, (_, _right, wrong) in WRITES.items():
        if wrong is None:
            continue
        user = clients.setdefault(wrong, as_user(wrong))
        response = user.client.post(_url(endpoint, scene), data={**user.tokens("/auth/me"), **FILLED})
        assert response.status_code == 403, endpoint
    assert _footprint(ow, scene) == before


def test_posts_on_another_departments_case_or_task_change_nothing(app, ow, scene, as_user):
    before, clients = _footprint(ow, scene), {}
    for endpoint, outsider in OUTSIDERS.items():
        user = clients.setdefault(outsider, as_user(outsider))
        url = OUTSIDER_URLS.get(endpoint, WRITES[endpoint][0]).format(**scene)
        response = user.client.post(url, data={**user.tokens("/auth/me"), **FILLED})
        assert response.status_code in (403, 404), f"{endpoint}: {response.status_code}"
        assert _footprint(ow, scene) == before, endpoint


def test_posts_without_a_csrf_token_are_refused(app, ow, scene, as_user, browser):
    before, clients = _footprint(ow, scene), {}
    for endpoint, (_, right, _wrong) in WRITES.items():
        user = clients.setdefault(right, as_user(right)) if right else browser
        tokens = user.tokens("/auth/me" if right else "/track")
        tokens.pop("csrf_token")
        response = user.client.post(_url(endpoint, scene), data={**tokens, **FILLED})
        assert response.status_code == 400, endpoint
    assert _footprint(ow, scene) == before
