"""The proxy point (代办点): a proxy agent's mandates, applying for an applicant, tracking, recording delivery."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine import services
from engine.errors import InvalidInput
from engine.services import proxy
from web.portal import application_form, read_application
from web.security import acts_once, field_errors, onewindow, roles_required

bp = Blueprint("proxy", __name__, url_prefix="/proxy")
agents_only = roles_required("proxy_agent")


def _dashboard(errors: dict | None = None, status: int = 200):
    ow = onewindow()
    return render_template("proxy/dashboard.html", mandates=proxy.list_mandates(ow, current_user.username),
                           cases=proxy.proxy_cases(ow, current_user.username), items=services.list_items(ow),
                           consent_methods=sorted(proxy.CONSENT_METHODS), errors=errors or {},
                           values=request.form), status


@bp.get("/")
@agents_only
def dashboard():
    """Mandates held, cases handled for applicants, and their states."""
    return _dashboard()


def _day(name: str) -> date:
    try:
        return date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        raise InvalidInput(f"{name} is not a date", fields={name: _("请输入日期")}) from None


@bp.post("/mandates")
@agents_only
@acts_once
def new_mandate():
    """Record an applicant's mandate (with the signed form's reference); it waits for the applicant's confirmation."""
    try:
        proxy.grant_mandate(onewindow(), current_user.username, request.form.get("applicant", "").strip(),
                            current_user.username, request.form.get("item_code", ""), _day("valid_from"),
                            _day("valid_until"), {"method": request.form.get("consent_method", ""),
                                                  "reference": request.form.get("consent_reference", "")})
    except InvalidInput as exc:
        return _dashboard(field_errors(exc), 422)
    flash(_("委托已登记，待申请人确认或窗口核验委托书后生效。"), "info")
    return redirect(url_for("proxy.dashboard"))


@bp.post("/mandates/<int:mandate_id>/revoke")
@agents_only
@acts_once
def revoke_mandate(mandate_id: int):
    """Withdraw a mandate the agent holds (e.g. one recorded by mistake, or the applicant no longer wants it)."""
    proxy.revoke_mandate(onewindow(), current_user.username, mandate_id)
    flash(_("委托已撤销。"), "info")
    return redirect(url_for("proxy.dashboard"))


@bp.route("/apply/<code>", methods=["GET", "POST"])
@agents_only
@acts_once
def apply(code: str):
    """Apply on a mandated applicant's behalf, with their materials."""
    principal = request.values.get("on_behalf_of", "").strip()
    action = url_for("proxy.apply", code=code)
    extra = {"on_behalf_of": principal}
    if request.method == "GET":
        return application_form(code, action=action, extra=extra)
    ow = onewindow()
    try:
        data, applicant, files = read_application(code)
        applicant = {k: v for k, v in applicant.items() if k != "name"}
        receipt = services.apply(ow, code, current_user.username, data, applicant=applicant, on_behalf_of=principal)
    except InvalidInput as exc:
        return application_form(code, errors=field_errors(exc), status=422, action=action, extra=extra)
    if files:
        services.portal.attach_materials(ow, receipt["case_no"], current_user.username, files,
                                         current_app.config["UPLOAD_FOLDER"])
    flash(_("已代为申请：办件编号 %(case_no)s，查询码 %(code)s", case_no=receipt["case_no"], code=receipt["lookup_code"]),
          "info")
    return redirect(url_for("proxy.dashboard"))


@bp.post("/cases/<case_no>/deliver")
@agents_only
@acts_once
def deliver(case_no: str):
    """Record that the agent received the result for the applicant (送达 via the proxy point)."""
    proxy.receive_result(onewindow(), case_no, current_user.username)
    flash(_("已登记送达。"), "info")
    return redirect(url_for("proxy.dashboard"))
