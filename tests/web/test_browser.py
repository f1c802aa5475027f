"""Real-browser tests: Debian's chromium driven by Playwright against a real server on 127.0.0.1 (SQLite).

Screenshots of every page visited go to test-artifacts/ (1366×768 for clerks, a phone for applicants)."""
from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from engine import services
from engine.bootstrap import OneWindow
from engine.clock.timesource import ManualClock
from engine.forms import FormRegistry
from engine.runtime import SpecCache
from engine.store.db import open_database, upgrade_schema
from tests.conftest import DEMO_PASSWORD, T0
from tests.integration.helpers import AD_APPLICATION
from tests.web.helpers import PDF
from web.app import create_app

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app served by werkzeug in a thread on a random loopback port, on a fresh demo database."""
    folder = tmp_path_factory.mktemp("browser")
    ow = OneWindow(db=open_database(f"sqlite:///{folder}/onewindow.db"), clock=ManualClock(T0), forms=FormRegistry(),
                   specs=SpecCache())
    upgrade_schema(ow.db)
    services.load_organisation(ow, services.organisation.DEMO_ORGANISATION, DEMO_PASSWORD)
    services.deploy_catalogue(ow, "admin")
    app = create_app(ow, {"SECRET_KEY": "browser-tests", "SESSION_COOKIE_SECURE": False,
                          "UPLOAD_FOLDER": str(folder / "uploads")})
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}", ow, folder
    http.shutdown()
    ow.db.dispose()


@pytest.fixture(scope="module")
def chromium():
    """Debian's chromium (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class Person:
    """One person at a screen: their own browser context, signed in when they have an account."""

    def __init__(self, chromium, base: str, viewport: dict, username: str | None = None):
        self.base = base
        self.context = chromium.new_context(viewport=viewport, locale="zh-CN")
        self.page = self.context.new_page()
        if username:
            self.go("/auth/login")
            self.page.fill("#username", username)
            self.page.fill("#password", DEMO_PASSWORD)
            self.page.click("#login-submit")
            self.page.wait_for_load_state()
            assert "/auth/login" not in self.page.url, f"{username} could not sign in"

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def work_on(person: Person, case_no: str, fill: dict[str, str], shot: str | None = None) -> None:
    """Open the case's task from the inbox, claim it, fill its form and submit."""
    person.go(f"/inbox/?case_no={case_no}")
    if shot:
        person.shot(f"{shot}-inbox")
    person.page.click(f'tr[data-case="{case_no}"] a.task-link')
    person.page.click("#claim")
    for field, value in fill.items():
        locator = person.page.locator(f"#{field}")
        if locator.evaluate("e => e.tagName") == "SELECT":
            locator.select_option(value)
        else:
            locator.fill(value)
    if shot:
        person.shot(f"{shot}-task")
    person.page.click("#complete")
    person.page.wait_for_load_state()
    assert "已办理" in person.page.content()


def test_apply_accept_review_survey_decide_track_and_rate(server, chromium, tmp_path):
    base, ow, _ = server
    applicant = Person(chromium, base, PHONE, "zhangsan")
    applicant.go("/items/outdoor-ad")
    applicant.shot("01-guide-phone")
    applicant.page.click("#apply-link")
    applicant.page.fill("#site_address", "解放路88号东墙")
    applicant.page.select_option("#facility_type", "wall")
    applicant.page.fill("#area_sqm", "12.5")
    applicant.page.fill("#period_months", "24")
    applicant.page.fill("#applicant-phone", "0571-88000000")
    form = tmp_path / "申请表.pdf"
    form.write_bytes(PDF)
    applicant.page.set_input_files("#material-1", str(form))
    applicant.shot("02-apply-phone")
    applicant.page.click("#submit-application")
    case_no = applicant.page.inner_text("#case-no")
    code = applicant.page.inner_text("#lookup-code")
    applicant.shot("03-receipt-phone")
    applicant.close()

    steps = [("window1", {"intake_decision": "accept", "intake_opinion": "材料齐全，予以受理"}, "04-window"),
             ("reviewer1", {"decision": "pass", "opinion": "符合户外广告设置规划"}, "05-reviewer"),
             ("inspector1", {"survey_result": "conforms", "survey_date": "2026-03-11"}, "06-inspector"),
             ("chief1", {"decision": "approve", "opinion": "准予许可", "certificate_no": "HG-2026-001"}, "07-chief")]
    for username, fill, shot in steps:
        clerk = Person(chromium, base, DESKTOP, username)
        work_on(clerk, case_no, fill, shot)
        clerk.close()

    visitor = Person(chromium, base, PHONE)
    visitor.go("/track")
    visitor.page.fill("#track-case-no", case_no)
    visitor.page.fill("#track-lookup-code", code)
    visitor.page.click("#track-submit")
    assert "已办结" in visitor.page.inner_text("#track-status")
    assert "准予许可" in visitor.page.inner_text("#track-result")
    visitor.page.check("#level-5")
    visitor.shot("08-track-phone")
    visitor.page.click("#rate-submit")
    assert "5" in visitor.page.inner_text("#rated")
    visitor.shot("09-rated-phone")
    visitor.close()
    assert services.history(ow, case_no)[-1]["type"] == "rated"


def test_one_time_notice_answered_by_the_applicant(server, chromium, tmp_path):
    base, ow, _ = server
    case_no = services.apply(ow, "outdoor-ad", "lisi", AD_APPLICATION)["case_no"]
    window = Person(chromium, base, DESKTOP, "window1")
    window.go(f"/inbox/cases/{case_no}")
    window.page.click("#case-actions summary")
    window.page.check('input[name="missing"][value="场地使用权证明"]')
    window.shot("10-window-case")
    window.page.click("#send-notice")
    assert "已发出一次性告知" in window.page.content()
    window.close()

    applicant = Person(chromium, base, PHONE, "lisi")
    applicant.go(f"/mine/{case_no}")
    assert "场地使用权证明" in applicant.page.inner_text("#notices")
    proof = tmp_path / "场地证明.pdf"
    proof.write_bytes(PDF)
    applicant.page.set_input_files("#supplement-1", str(proof))
    applicant.page.fill("#supplement-note", "已补交场地使用权证明")
    applicant.shot("11-notice-phone")
    applicant.page.click("#supplement-submit")
    assert "补正材料已提交" in applicant.page.content()
    applicant.close()
    assert services.case_detail(ow, case_no)["status"] == "RECEIVED"


def test_designer_sees_the_finding_on_the_diagram(server, chromium, tmp_path):
    base, _, _ = server
    bad = Path("processes/outdoor-ad.bpmn").read_bytes().replace(b'camunda:formKey="review"',
                                                                 b'camunda:formKey="no-such-form"', 1)
    upload = tmp_path / "outdoor-ad.bpmn"
    upload.write_bytes(bad)
    designer = Person(chromium, base, DESKTOP, "designer1")
    designer.go("/design/")
    designer.shot("12-design-items")
    designer.page.click("#upload-outdoor-ad")
    designer.page.set_input_files("#bpmn-file", str(upload))
    designer.page.click("#check")
    assert "unknown-form-key" in designer.page.inner_text("#findings")
    assert re.search(r"\boverdue\b", designer.page.get_attribute("#diagram svg g#review", "class"))
    designer.shot("13-design-findings")
    designer.close()


def test_inbox_and_case_file_in_english(server, chromium):
    base, ow, _ = server
    services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)
    window = Person(chromium, base, DESKTOP, "window1")
    window.go("/inbox/?lang=en")
    assert "Inbox" in window.page.inner_text("h1")
    window.shot("14-inbox-english")
    window.close()


@pytest.mark.parametrize("username, viewport, paths", [
    (None, PHONE, ["/", "/auth/login", "/track"]),
    ("zhangsan", PHONE, ["/mine", "/auth/me"]),
    ("agent1", PHONE, ["/proxy/"]),
    ("reviewer1", DESKTOP, ["/inbox/?scope=mine", "/auth/me"]),
    ("designer1", DESKTOP, ["/design/items/outdoor-ad/v1"]),
])
def test_page_tour_fits_the_screen(server, chromium, username, viewport, paths):
    base, _, _ = server
    person = Person(chromium, base, viewport, username)
    for path in paths:
        person.go(path)
        # Nothing may force sideways scrolling of the page itself (wide diagrams scroll inside their box).
        assert person.page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], path
        slug = re.sub(r"\W+", "-", path).strip("-") or "home"
        person.shot(f"tour-{username or 'visitor'}-{slug}-{viewport['width']}")
    person.close()
