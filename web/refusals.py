"""Engine refusals in the visitor's language: one message per stable error code, field messages by their wording;
the engine's English detail stays available beside them."""
from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from engine.errors import OneWindowError

# By the code the engine gives the refusal; codes not listed fall back to the HTTP status.
CODE_MESSAGES = {
    "forbidden": _l("您无权执行此操作。"),
    "not_found": _l("未找到相应的办件、环节或记录，或您无权查看。"),
    "conflict": _l("操作未执行：办件已被他人处理或状态已经变化，请刷新页面后重试。"),
    "invalid_input": _l("提交的内容不符合要求，请按提示修改后重新提交。"),
    "too_many_attempts": _l("尝试次数过多，请 %(seconds)s 秒后再试。"),
    "not_task_holder": _l("只有本环节的办理人可以申请延期。"),
    "not_extendable": _l("只有已受理且尚未办结的办件可以延期。"),
    "extension_cap": _l("延期超过本事项允许的上限：最多还可延期 %(room)s 个工作日。"),
    "extension_request_open": _l("该办件已有待审批的延期申请。"),
    "extension_request_decided": _l("该延期申请已经处理过。"),
}
STATUS_MESSAGES = {
    401: _l("请先登录，或提供有效的令牌。"),
    403: CODE_MESSAGES["forbidden"],
    404: CODE_MESSAGES["not_found"],
    409: CODE_MESSAGES["conflict"],
    422: CODE_MESSAGES["invalid_input"],
    429: _l("请求过于频繁，请稍后再试。"),
}
FALLBACK = _l("请求无法处理。")

# Field messages the engine and jsonschema word in English: exact wordings first, then shapes with numbers.
FIELD_WORDS = {
    "required": _l("必填项"),
    "unknown filter": _l("未知筛选条件"),
    "unknown stage": _l("未知监察阶段"),
    "not a field of this form": _l("不是本表单的字段"),
    "unknown user": _l("未知用户"),
    "unknown": _l("未知选项"),
    "a whole number": _l("应为整数"),
    "a number": _l("应为数字"),
    "YYYY-MM-DD": _l("日期格式应为 YYYY-MM-DD"),
    "too large": _l("文件过大"),
    "empty file": _l("文件为空"),
    "PDF/PNG/JPEG only": _l("仅接受 PDF/PNG/JPEG 文件"),
    "plain file names only": _l("文件名不能包含路径"),
    "content does not match type": _l("文件内容与扩展名不符"),
    "too many files": _l("文件数量过多"),
    "needs the same post": _l("须为同一岗位的人员"),
    "needs the same department": _l("须为同一部门的人员"),
    "choose someone else": _l("请选择其他人员"),
}
FIELD_SHAPES = [
    (re.compile(r"^(?P<low>\d+)–(?P<high>\d+) characters$"), _l("须为 %(low)s–%(high)s 个字符")),
    (re.compile(r"^at most (?P<n>\d+) characters$"), _l("最多 %(n)s 个字符")),
    (re.compile(r"^at most (?P<n>\d+)$"), _l("最多 %(n)s")),
    (re.compile(r"^must be >= (?P<n>\d+)$"), _l("不能小于 %(n)s")),
    (re.compile(r"is less than the minimum of (?P<n>\S+)$"), _l("不能小于 %(n)s")),
    (re.compile(r"is greater than the maximum of (?P<n>\S+)$"), _l("不能大于 %(n)s")),
    (re.compile(r"is not one of "), _l("不是可选的值")),
    (re.compile(r"is too long$"), _l("内容过长")),
    (re.compile(r"is too short$"), _l("内容过短")),
    (re.compile(r"is not of type "), _l("格式不正确")),
    (re.compile(r" does not match '"), _l("格式不正确")),
]


def refusal_message(exc: OneWindowError) -> str:
    """What the visitor reads for a refusal: the message of its code (with its parameters) or of its status."""
    general = STATUS_MESSAGES.get(exc.http_status, FALLBACK)
    return _filled(CODE_MESSAGES.get(exc.code, general), exc.params) or str(general)


def http_message(exc: HTTPException) -> str:
    """What the visitor reads for an HTTP error: our own wording when a view gave one, else that of its status."""
    if isinstance(exc, CSRFError):
        return str(_l("页面的安全令牌缺失或已过期，请刷新页面后重新提交。"))
    if exc.description and exc.description != type(exc).description:
        return exc.description
    return str(STATUS_MESSAGES.get(exc.code or 500, FALLBACK))


def field_message(text: str) -> str:
    """A field's refusal in the visitor's language; a wording not known here is shown as the engine gave it."""
    if text in FIELD_WORDS:
        return str(FIELD_WORDS[text])
    for shape, message in FIELD_SHAPES:
        found = shape.search(text)
        if found:
            return _filled(message, found.groupdict()) or text
    return text


def refusal_view(exc: OneWindowError) -> dict[str, Any]:
    """Everything a page or the API shows of a refusal: code, message, English detail and field messages."""
    fields = getattr(exc, "fields", {}) or {}
    return {"code": exc.code, "message": refusal_message(exc), "detail": exc.detail, "params": exc.params,
            "fields": {name: field_message(text) for name, text in fields.items()}}


def _filled(message, params: dict[str, Any]) -> str | None:
    """The message with its parameters, or None when the refusal lacks one the message quotes."""
    try:
        return str(message) % params if "%(" in str(message) else str(message)
    except (KeyError, TypeError, ValueError):
        return None
