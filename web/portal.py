"""The applicant portal: service guides, applying online with materials, tracking, ratings and complaints."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from engine import services
from engine.errors import InvalidInput, NotFound
from engine.services import clock as clock_service
from engine.services import materials as materials_service
from engine.services import proxy as proxy_service
from engine.services.portal import MaterialFile
from web.schema_forms import fields, typed
from web.security import acts_once, field_errors, onewindow, roles_required

bp = Blueprint("portal", __name__)


def _lang() -> str:
    return str(get_locale() or "zh")


@bp.get("/")
def index():
    """Every item of the catalogue, and tracking by case number."""
    return render_template("portal/index.html", items=services.list_items(onewindow()))


@bp.get("/items/<code>")
def guide(code: str):
    """The public service guide (办事指南) of one item."""
    return render_template("portal/guide.html", guide=services.portal.service_guide(onewindow(), code))


def material_files() -> list[MaterialFile]:
    """Uploaded files, one input per material of the checklist (`material-<n>` with the material's name)."""
    files = []
    for key, storage in request.files.items(multi=True):
        if not key.startswith("material-") or not storage or not storage.filename:
            continue
        files.append(MaterialFile(request.form.get(f"{key}-name", ""), storage.filename, storage.read()))
    return files


def application_form(code: str, errors: dict | None = None, status: int = 200, action: str | None = None,
                     extra: dict | None = None):
    """Render the application form of an item (portal or proxy point)."""
    ow = onewindow()
    guide_ = services.portal.service_guide(ow, code)
    schema = ow.forms.schema(guide_["application_form"])
    applicant_schema = ow.forms.schema("applicant")
    return render_template("portal/apply.html", guide=guide_, fields=fields(schema, _lang()),
                           applicant_fields=fields(applicant_schema, _lang()), errors=errors or {},
                           values=request.form, action=action or url_for("portal.apply", code=code),
                           extra=extra or {}), status


def read_application(code: str) -> tuple[dict, dict, list[MaterialFile]]:
    """The submitted form data, applicant details and files, checked before anything is stored."""
    ow = onewindow()
    guide_ = services.portal.service_guide(ow, code)
    data = typed(ow.forms.schema(guide_["application_form"]), request.form)
    applicant = typed(ow.forms.schema("applicant"), request.form, prefix="applicant-")
    files = material_files()
    services.portal.check_files(ow, code, files)
    return data, applicant, files


@bp.route("/items/<code>/apply", methods=["GET", "POST"])
@roles_required("applicant")
@acts_once
def apply(code: str):
    """Apply online: the item's form, the applicant's details and material uploads."""
    if request.method == "GET":
        return application_form(code)
    ow = onewindow()
    try:
        data, applicant, files = read_application(code)
        applicant = {k: v for k, v in applicant.items() if k != "name"}
        receipt = services.apply(ow, code, current_user.username, data, applicant={"kind": "person", **applicant})
    except InvalidInput as exc:
        return application_form(code, errors=field_errors(exc), status=422)
    if files:
        services.portal.attach_materials(ow, receipt["case_no"], current_user.username, files,
                                         current_app.config["UPLOAD_FOLDER"])
    session["receipt"] = receipt
    return redirect(url_for("portal.receipt"))


@bp.get("/receipt")
@login_required
def receipt():
    """The receipt of the last application: case number and lookup code."""
    data = session.get("receipt")
    if not data:
        return redirect(url_for("portal.mine"))
    return render_template("portal/receipt.html", receipt=data)


@bp.get("/mine")
@login_required
def mine():
    """The signed-in user's cases and, for an applicant, the proxy mandates in their name to confirm or decline."""
    ow = onewindow()
    return render_template("portal/mine.html", cases=services.portal.my_cases(ow, current_user.username),
                           mandates=_given_mandates() if current_user.has("applicant") else [])


def _given_mandates() -> list[dict]:
    """The mandates the signed-in user gave as applicant (not those they may hold as a proxy agent)."""
    return [m for m in proxy_service.list_mandates(onewindow(), current_user.username)
            if m["applicant"] == current_user.username]


@bp.post("/mine/mandates/<int:mandate_id>/confirm")
@roles_required("applicant")
@acts_once
def confirm_mandate(mandate_id: int):
    """Confirm a mandate a proxy agent recorded in the applicant's name: from now on it lets the agent act."""
    proxy_service.confirm_mandate(onewindow(), current_user.username, mandate_id)
    flash(_("委托已确认，代办员现可为您办理。"), "info")
    return redirect(url_for("portal.mine", _anchor="mandates"))


@bp.post("/mine/mandates/<int:mandate_id>/decline")
@roles_required("applicant")
@acts_once
def decline_mandate(mandate_id: int):
    """Decline a mandate the applicant never gave: it never lets the agent act."""
    proxy_service.decline_mandate(onewindow(), current_user.username, mandate_id, request.form.get("reason", ""))
    flash(_("已拒绝该委托。"), "info")
    return redirect(url_for("portal.mine", _anchor="mandates"))


@bp.post("/mine/mandates/<int:mandate_id>/revoke")
@roles_required("applicant")
@acts_once
def revoke_mandate(mandate_id: int):
    """End a mandate the applicant gave before its end date."""
    proxy_service.revoke_mandate(onewindow(), current_user.username, mandate_id)
    flash(_("委托已撤销。"), "info")
    return redirect(url_for("portal.mine", _anchor="mandates"))


@bp.get("/mine/<case_no>")
@login_required
def my_case(case_no: str):
    """One of the applicant's cases: progress, notices (read here) and the answer to a one-time notice."""
    return _my_case(case_no)


def _my_case(case_no: str, errors: dict | None = None, status: int = 200):
    case = services.portal.applicant_case(onewindow(), case_no, current_user.username)
    return render_template("portal/case.html", case=case, errors=errors or {}), status


@bp.post("/mine/<case_no>/supplement")
@login_required
@acts_once
def supplement(case_no: str):
    """Answer a notice: the one-time notice at intake, or a correction request during review (补正)."""
    ow = onewindow()
    files = material_files()
    case = services.portal.applicant_case(ow, case_no, current_user.username)
    try:
        # Everything is checked before a file is stored, so a refused reply leaves no upload behind.
        if not case["waiting_for_materials"]:
            raise InvalidInput("the case is not waiting for materials", fields={"file": _("本办件当前无需补正材料")})
        services.portal.check_files(ow, case["item_code"], files)
        outstanding = [m["name"] for m in materials_service.checklist(ow, case_no)
                       if m["state"] in ("missing", "defective", "deferred")]
        intake_notice = case["status"] == "CORRECTION_REQUESTED" and bool(outstanding)
        # The one-time notice listed materials: those handed in now are recorded against it.
        handed_in = sorted({f.material for f in files} & set(outstanding))
        if intake_notice and not handed_in:
            raise InvalidInput("upload the materials the notice lists", fields={"file": _("请上传告知书所列材料")})
        if files:
            services.portal.attach_materials(ow, case_no, current_user.username, files,
                                             current_app.config["UPLOAD_FOLDER"])
        if intake_notice:
            materials_service.supplement(ow, case_no, current_user.username, handed_in)
        else:
            # During review the request paused the clocks; the reply makes them run again.
            clock_service.receive_correction(ow, case_no, current_user.username, request.form.get("note", "").strip())
    except InvalidInput as exc:
        return _my_case(case_no, field_errors(exc), 422)
    flash(_("补正材料已提交。"), "info")
    return redirect(url_for("portal.my_case", case_no=case_no))


@bp.route("/track", methods=["GET", "POST"])
def track():
    """Track a case with its number and lookup code (POST, so the code never sits in a URL or a log)."""
    if request.method == "GET":
        return render_template("portal/track.html", case=None, errors={})
    case_no, code = request.form.get("case_no", "").strip(), request.form.get("lookup_code", "").strip()
    errors = {}
    if not case_no:
        errors["case_no"] = _("必填项")
    if not code:
        errors["lookup_code"] = _("必填项")
    if errors:
        return render_template("portal/track.html", case=None, errors=errors), 422
    try:
        case = services.portal.track(onewindow(), case_no, code, _remote())
    except NotFound:
        return render_template("portal/track.html", case=None,
                               errors={"lookup_code": _("办件编号或查询码不正确。")}), 404
    return render_template("portal/track.html", case=case, lookup_code=code, errors={})


def _remote() -> str:
    """The client's address, the key the lookup-code guard counts failures from."""
    return request.remote_addr or "-"


def _back_to_track(case_no: str, code: str, errors: dict, status: int):
    case = services.portal.track(onewindow(), case_no, code, _remote())
    return render_template("portal/track.html", case=case, lookup_code=code, errors=errors), status


@bp.post("/rate")
@acts_once
def rate():
    """Rate a concluded case (five levels)."""
    case_no, code = request.form.get("case_no", ""), request.form.get("lookup_code", "")
    try:
        services.portal.rate(onewindow(), case_no, request.form.get("level", ""), request.form.get("comment", ""),
                             lookup_code=code, remote=_remote())
    except InvalidInput as exc:
        return _back_to_track(case_no, code, field_errors(exc), 422)
    flash(_("感谢您的评价。"), "info")
    return _back_to_track(case_no, code, {}, 200)


@bp.post("/complain")
@acts_once
def complain():
    """File an efficiency complaint about a case."""
    case_no, code = request.form.get("case_no", ""), request.form.get("lookup_code", "")
    try:
        services.portal.complain(onewindow(), case_no, request.form.get("text", ""), request.form.get("contact", ""),
                                 lookup_code=code, remote=_remote())
    except InvalidInput as exc:
        return _back_to_track(case_no, code, field_errors(exc), 422)
    flash(_("投诉已受理，我们将尽快核实答复。"), "info")
    return _back_to_track(case_no, code, {}, 200)
