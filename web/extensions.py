"""Extension requests (延期申请) from the task page: the handling clerk asks, the department head decides."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from engine.errors import InvalidInput
from engine.services import extension_requests
from web.security import STAFF_GROUPS, acts_once, field_errors, onewindow, roles_required

bp = Blueprint("extensions", __name__, url_prefix="/inbox")
FIELD_NAMES = {"days": _l("延期工作日"), "reason": _l("理由")}


@bp.post("/tasks/<task_id>/extension-request")
@roles_required(*STAFF_GROUPS)
@acts_once
def ask(task_id: str):
    """The clerk holding the task asks for more working days, with the reason."""
    days = request.form.get("days", 0, type=int) or 0
    return _act(lambda: extension_requests.request_extension(
        onewindow(), task_id, current_user.username, days, request.form.get("reason", "")),
        _("延期申请已提交，等待部门负责人审批。"), url_for("inbox.task", task_id=task_id))


@bp.post("/extension-requests/<int:request_id>/approve")
@roles_required(extension_requests.DECIDERS)
@acts_once
def approve(request_id: int):
    """The department head approves: the case's time limits are extended and the applicant is told."""
    return _act(lambda: extension_requests.approve(onewindow(), request_id, current_user.username),
                _("已批准延期，已告知申请人。"), url_for("inbox.index"))


@bp.post("/extension-requests/<int:request_id>/decline")
@roles_required(extension_requests.DECIDERS)
@acts_once
def decline(request_id: int):
    """The department head declines, with the reason the clerk will read."""
    return _act(lambda: extension_requests.decline(onewindow(), request_id, current_user.username,
                                                   request.form.get("reason", "")),
                _("已退回延期申请。"), url_for("inbox.index"))


def _act(action, done: str, back: str):
    """Run the use case; its field problems are shown on the page the form came from."""
    try:
        action()
    except InvalidInput as exc:
        for field, problem in field_errors(exc).items():
            flash(f"{FIELD_NAMES.get(field, field)}: {problem}", "warning")
        return redirect(back)
    flash(done, "info")
    return redirect(back)
