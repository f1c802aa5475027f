"""The clerk inbox: mine and my groups by due time, filters, claim, the task page with the case file, actions;
for heads and supervisors the department's work, reassignment (转办) and contact corrections."""
from __future__ import annotations

from io import BytesIO

from flask import Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from engine import services
from engine.errors import InvalidInput
from engine.services import admin_edits, extension_requests, intake, reassignment
from engine.services import clock as clock_service
from engine.services import materials as materials_service
from engine.services import proxy as proxy_service
from web.reads import logs_look
from web.schema_forms import display, fields, typed
from web.security import STAFF_GROUPS, acts_once, field_errors, onewindow, roles_required

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
PER_PAGE = 20
FILTERS = ("item", "stage", "overdue", "applicant", "case_no")
staff_only = roles_required(*STAFF_GROUPS)
TEAM_ROLES = reassignment.REASSIGNERS


@bp.get("/")
@staff_only
@logs_look("inbox")
def index():
    """Open work sorted by due time, with remaining working days and the supervision stage; `team` for heads."""
    scope = request.args.get("scope", "all")
    page = max(1, request.args.get("page", 1, type=int) or 1)
    filters = {k: request.args[k] for k in FILTERS if request.args.get(k)}
    errors = {}
    try:
        if scope == "team" and current_user.has(*TEAM_ROLES):
            filters = {}
            rows = reassignment.team_work(onewindow(), current_user.username, PER_PAGE + 1, (page - 1) * PER_PAGE)
        else:
            rows = services.inbox(onewindow(), current_user.username, scope, PER_PAGE + 1, (page - 1) * PER_PAGE,
                                  filters)
    except InvalidInput as exc:
        rows, errors = [], field_errors(exc)
    # A head decides the extension requests of their departments from here (延期申请).
    asked = extension_requests.pending_for(onewindow(), current_user.username) if current_user.has("dept_head") else []
    return render_template("inbox/index.html", rows=rows[:PER_PAGE], has_next=len(rows) > PER_PAGE, page=page,
                           scope=scope, filters=filters, errors=errors, items=services.list_items(onewindow()),
                           extension_requests=asked), \
        422 if errors else 200


def _task_page(task_id: str, errors: dict | None = None, status: int = 200):
    ow = onewindow()
    task = services.casefile.task_detail(ow, task_id, current_user.username)
    case = services.casefile.case_file(ow, task["case_no"], current_user.username)
    svg = services.casefile.case_diagram(ow, task["case_no"], current_user.username)
    lang = str(get_locale() or "zh")
    form = fields(task["schema"], lang) if task["schema"] else []
    return render_template("inbox/task.html", task=task, case=case, diagram=Markup(svg), form=form,
                           shown=display(ow.forms.schema(case["application_form"]), case["form_data"], lang),
                           errors=errors or {}, values=request.form,
                           extension=extension_requests.for_case(ow, task["case_no"], current_user.username),
                           refusal={"basis": intake.REFUSAL_BASIS, "remedy": intake.REFUSAL_REMEDY}), status


@bp.get("/tasks/<task_id>")
@staff_only
@logs_look("task")
def task(task_id: str):
    """A task with the case file, the diagram and its form."""
    return _task_page(task_id)


@bp.post("/tasks/<task_id>/claim")
@staff_only
@acts_once
def claim(task_id: str):
    """Take the task into one's own inbox."""
    services.claim(onewindow(), task_id, current_user.username)
    flash(_("已签收。"), "info")
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.post("/tasks/<task_id>/unclaim")
@staff_only
@acts_once
def unclaim(task_id: str):
    """Put the task back into the groups' inbox."""
    services.unclaim(onewindow(), task_id, current_user.username)
    flash(_("已退回组内待办。"), "info")
    return redirect(url_for("inbox.index"))


@bp.post("/tasks/<task_id>/complete")
@staff_only
@acts_once
def complete(task_id: str):
    """Complete the task with its form: approve, return or refuse with reasons are the form's decisions; a refusal
    at intake (不予受理) also needs its reason and issues the refusal notice with the legal basis given here."""
    ow = onewindow()
    detail = services.casefile.task_detail(ow, task_id, current_user.username)
    try:
        data = typed(detail["schema"], request.form) if detail["schema"] else {}
        status = services.complete(ow, task_id, current_user.username, data, request.form.get("refusal_basis", ""))
    except InvalidInput as exc:
        return _task_page(task_id, field_errors(exc), 422)
    flash(_("已办理，办件状态：%(status)s", status=status), "info")
    return redirect(url_for("inbox.index"))


@bp.get("/cases/<case_no>")
@staff_only
@logs_look("case")
def case(case_no: str):
    """The case file; a head or supervisor also reassigns its open tasks here."""
    ow = onewindow()
    detail = services.casefile.case_file(ow, case_no, current_user.username)
    svg = services.casefile.case_diagram(ow, case_no, current_user.username)
    shown = display(ow.forms.schema(detail["application_form"]), detail["form_data"], str(get_locale() or "zh"))
    options = reassignment.reassign_options(ow, case_no, current_user.username) if current_user.has(*TEAM_ROLES) else []
    return render_template("inbox/case.html", case=detail, diagram=Markup(svg), shown=shown, reassignable=options,
                           editable=admin_edits.EDITABLE)


@bp.get("/cases/<case_no>/files/<int:upload_id>")
@roles_required(*STAFF_GROUPS, "applicant", "proxy_agent")
@logs_look("material")
def material(case_no: str, upload_id: int):
    """Download a material file of a case one may see (always as an attachment, never rendered inline)."""
    name, content_type, data = services.portal.read_upload(onewindow(), case_no, upload_id, current_user.username,
                                                           current_app.config["UPLOAD_FOLDER"])
    return send_file(BytesIO(data), mimetype=content_type, as_attachment=True, download_name=name)


def _case_action(case_no: str, action, message: str):
    """Run an action owned by the clock area on a case the clerk may see, then go back to where they were."""
    services.casefile.require_visible(onewindow(), case_no, current_user.username)
    try:
        action()
    except InvalidInput as exc:
        for field, problem in field_errors(exc).items():
            flash(f"{field}: {problem}", "warning")
        return redirect(_back(case_no))
    flash(message, "info")
    return redirect(_back(case_no))


def _back(case_no: str) -> str:
    task_id = request.form.get("task_id", "")
    return url_for("inbox.task", task_id=task_id) if task_id else url_for("inbox.case", case_no=case_no)


@bp.post("/cases/<case_no>/correction")
@roles_required("window", "reviewer")
@acts_once
def correction(case_no: str):
    """At intake the one-time notice (一次性告知) of everything missing; during review a correction request (补正)."""
    ow = onewindow()
    missing = request.form.getlist("missing")
    if services.casefile.case_file(ow, case_no, current_user.username)["status"] == "RECEIVED":
        listed = [m["name"] for m in materials_service.checklist(ow, case_no)]
        return _case_action(case_no, lambda: materials_service.one_time_notice(
            ow, case_no, current_user.username, [m for m in listed if m not in missing]), _("已发出一次性告知。"))
    return _case_action(case_no, lambda: clock_service.request_correction(
        ow, case_no, current_user.username, missing, request.form.get("reason", "")), _("已发出补正通知。"))


@bp.post("/cases/<case_no>/suspend")
@roles_required("reviewer", "chief", "dept_head")
@acts_once
def suspend(case_no: str):
    """Start a special procedure: the clocks stop."""
    days = request.form.get("expected_days", type=int)
    return _case_action(case_no, lambda: clock_service.suspend(
        onewindow(), case_no, current_user.username, request.form.get("procedure", ""),
        request.form.get("reason", ""), days), _("已进入特别程序，时限暂停计算。"))


@bp.post("/cases/<case_no>/resume")
@roles_required("reviewer", "chief", "dept_head")
@acts_once
def resume(case_no: str):
    """End the special procedure: the clocks run again."""
    return _case_action(case_no, lambda: clock_service.resume(
        onewindow(), case_no, current_user.username, request.form.get("reason", "")), _("特别程序已结束，时限恢复计算。"))


@bp.post("/cases/<case_no>/extend")
@roles_required("dept_head")
@acts_once
def extend(case_no: str):
    """Grant an extension (延期) of the case's time limit."""
    days = request.form.get("days", 0, type=int) or 0
    return _case_action(case_no, lambda: clock_service.extend(
        onewindow(), case_no, current_user.username, days, request.form.get("reason", "")), _("已批准延期。"))


@bp.post("/tasks/<task_id>/reassign")
@roles_required(*TEAM_ROLES)
@acts_once
def reassign(task_id: str):
    """Give an open task to another clerk of its groups and department (转办), with the reason."""
    back = request.form.get("case_no", "")
    try:
        result = reassignment.reassign(onewindow(), task_id, current_user.username, request.form.get("to", ""),
                                       request.form.get("reason", ""))
    except InvalidInput as exc:
        for field, problem in field_errors(exc).items():
            flash(f"{field}: {problem}", "warning")
        return redirect(url_for("inbox.case", case_no=back) if back else url_for("inbox.index", scope="team"))
    flash(_("已转办给 %(who)s。", who=result["to"]), "info")
    return redirect(url_for("inbox.case", case_no=result["case_no"]))


@bp.post("/cases/<case_no>/contact")
@roles_required(*admin_edits.EDITORS)
@acts_once
def contact(case_no: str):
    """Correct the applicant's contact details (phone, address, contact person) with the reason."""
    changes = {name: request.form.get(name, "") for name in admin_edits.EDITABLE if name in request.form}
    return _case_action(case_no, lambda: admin_edits.edit_contact(
        onewindow(), case_no, current_user.username, changes, request.form.get("reason", "")), _("联系信息已更正。"))


# --- proxy mandates at the window (代办委托核验): a clerk checks the signed form an agent brings --------------------

window_only = roles_required("window")


def _mandates_page(errors: dict | None = None, status: int = 200, failed: int | None = None):
    """The mandates at the points the clerk's centre covers: pending ones to verify, confirmed ones to end."""
    ow = onewindow()
    listed = proxy_service.list_mandates(ow, current_user.username)
    pending = [m for m in listed if m["status"] == "pending"]
    confirmed = [m for m in listed if m["status"] == "confirmed"]
    # Names and points of the people on the page: one profile each, however many mandates they share.
    people = {name: services.accounts.profile(ow, name)
              for name in {m[k] for m in pending + confirmed for k in ("applicant", "agent")}}
    items = {i["code"]: i for i in services.list_items(ow)}
    return render_template("inbox/mandates.html", pending=pending, confirmed=confirmed, people=people, items=items,
                           errors=errors or {}, failed=failed, values=request.form), status


@bp.get("/mandates")
@window_only
def mandates():
    """Pending proxy mandates of the points the clerk covers, with their consent record and trail."""
    return _mandates_page()


@bp.post("/mandates/<int:mandate_id>/confirm")
@window_only
@acts_once
def confirm_mandate(mandate_id: int):
    """Confirm a pending mandate after checking the applicant's signed form; the note says what was checked."""
    note = request.form.get("note", "").strip()
    if not note:
        return _mandates_page({"note": _("请填写核验记录，例如所核对委托书的编号")}, 422, mandate_id)
    proxy_service.confirm_mandate(onewindow(), current_user.username, mandate_id, note)
    flash(_("委托已核验确认，代办员现可为申请人办理。"), "info")
    return redirect(url_for("inbox.mandates"))


@bp.post("/mandates/<int:mandate_id>/revoke")
@window_only
@acts_once
def revoke_mandate(mandate_id: int):
    """End a pending or confirmed mandate at a covered point (e.g. the applicant withdraws it at the window)."""
    proxy_service.revoke_mandate(onewindow(), current_user.username, mandate_id)
    flash(_("委托已撤销。"), "info")
    return redirect(url_for("inbox.mandates"))
