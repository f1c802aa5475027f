"""Refusals of the engine reach people in their language, by stable code, with the English detail kept."""
from __future__ import annotations

import pytest
from flask_babel import force_locale

from engine import services
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.integration.helpers import AD_APPLICATION
from web.refusals import field_message, refusal_message


def _claimed_by_window1(ow) -> str:
    services.apply(ow, "outdoor-ad", "zhangsan", AD_APPLICATION)
    task_id = services.inbox(ow, "window1")[0]["task_id"]
    services.claim(ow, task_id, "window1")
    return task_id


def test_a_lost_race_reads_as_a_conflict_in_chinese_with_the_english_detail(ow, as_user):
    task_id = _claimed_by_window1(ow)
    clerk = as_user("window2")
    response = clerk.submit("/auth/me", f"/inbox/tasks/{task_id}/claim", {})
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "办件已被他人处理或状态已经变化" in page
    assert 'id="error-detail"' in page and "already held by window1" in page


def test_the_same_refusal_in_english(ow, as_user):
    task_id = _claimed_by_window1(ow)
    clerk = as_user("window2")
    clerk.client.get("/auth/me?lang=en")
    page = clerk.submit("/auth/me", f"/inbox/tasks/{task_id}/claim", {}).get_data(as_text=True)
    assert "someone else has already handled the case" in page


def test_not_found_and_forbidden_pages_are_translated(ow, as_user):
    clerk = as_user("window1")
    missing = clerk.client.get("/inbox/cases/20990101000001")
    assert missing.status_code == 404 and "未找到相应的办件" in missing.get_data(as_text=True)
    applicant = as_user("zhangsan")
    assert "您无权执行此操作" in applicant.client.get("/inbox/").get_data(as_text=True)


def test_the_api_gives_the_code_params_and_english_message(app, ow):
    task_id = _claimed_by_window1(ow)
    headers = {"Authorization": "Bearer " + services.accounts.issue_api_token(ow, "window2", "tests")}
    refused = app.test_client().post(f"/api/v1/tasks/{task_id}/claim", headers=headers)
    assert refused.status_code == 409
    assert refused.json["code"] == "conflict" and refused.json["error"] == "Conflict"
    assert "already held by window1" in refused.json["message"]


@pytest.mark.parametrize(("error", "zh"), [
    (Forbidden("x may not"), "您无权执行此操作。"),
    (NotFound("no case 1"), "未找到相应的办件、环节或记录，或您无权查看。"),
    (Conflict("stale"), "操作未执行：办件已被他人处理或状态已经变化，请刷新页面后重试。"),
    (InvalidInput("bad", fields={"a": "required"}), "提交的内容不符合要求，请按提示修改后重新提交。"),
    (Conflict("open", code="extension_request_open"), "该办件已有待审批的延期申请。"),
    (InvalidInput("cap", code="extension_cap", params={"room": 4}), "延期超过本事项允许的上限：最多还可延期 4 个工作日。"),
    # A code whose parameters are missing falls back to its status's message rather than failing.
    (InvalidInput("cap", code="extension_cap"), "提交的内容不符合要求，请按提示修改后重新提交。"),
])
def test_codes_translate_with_their_parameters(app, error, zh):
    with app.test_request_context(), force_locale("zh"):
        assert refusal_message(error) == zh
    assert error.detail == str(error)


@pytest.mark.parametrize(("engine", "zh", "en"), [
    ("required", "必填项", "Required"),
    ("2–500 characters", "须为 2–500 个字符", "2–500 characters"),
    ("at most 10", "最多 10", "at most 10"),
    ("must be >= 1", "不能小于 1", "at least 1"),
    ("'x' is not one of ['accept', 'reject']", "不是可选的值", "not one of the choices"),
    ("3000 is greater than the maximum of 100", "不能大于 100", "at most 100"),
    ("something the web layer does not know", "something the web layer does not know",
     "something the web layer does not know"),
])
def test_field_messages_translate_by_their_wording(app, engine, zh, en):
    with app.test_request_context():
        with force_locale("zh"):
            assert field_message(engine) == zh
        with force_locale("en"):
            assert field_message(engine) == en
