"""Auditor pages (电子监察): verification runs, a case as of any event with its timeline, figures, charts, exports,
the complaints desk.

Every GET is a read for auditors and supervisors. Three POSTs: starting a verification run (its sole write is the
auditors' own trail, audit_run), and a supervisor recording a bad review's rectification or moving a complaint
to its next stage, which refuse auditors.
"""
from __future__ import annotations

import json
from datetime import datetime

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.charts import distribution_svg, rate_trend_svg
from engine.clock.calendar import SHANGHAI
from engine.errors import InvalidInput
from engine.services import audit, complaints, supervision
from web.security import acts_once, field_errors, onewindow, roles_required

bp = Blueprint("audit", __name__, url_prefix="/audit")
AUDIT_ROLES = ("auditor", "supervisor")


@bp.app_template_filter("shanghai")
def shanghai_time(value: str | None) -> str:
    """An ISO instant as Shanghai wall-clock time, the way the centre reads its records."""
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


@bp.app_template_filter("pretty_json")
def pretty_json(value) -> str:
    """A payload as indented JSON with Chinese left readable (the template escapes it)."""
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _period_args() -> dict[str, str | None]:
    return {"date_from": request.args.get("from") or None, "date_to": request.args.get("to") or None}


@bp.get("/")
@roles_required(*AUDIT_ROLES)
def index():
    """The audit desk: newest verification runs, history size, a case lookup."""
    ow = onewindow()
    runs = audit.verification_runs(ow, current_user.username, limit=10)
    return render_template("audit/index.html", runs=runs, counts=audit.event_counts(ow))


@bp.post("/verify")
@roles_required(*AUDIT_ROLES)
def verify():
    """Run the verification now (chains + re-execution); the run is stored and listed on the desk."""
    case_no = (request.form.get("case_no") or "").strip() or None
    audit.run_verification(onewindow(), current_user.username, trigger="web", case_no=case_no)
    return redirect(url_for("audit.index"))


@bp.get("/cases")
@roles_required(*AUDIT_ROLES)
def find():
    """Jump from the lookup form to a case's as-of page."""
    case_no = (request.args.get("case_no") or "").strip()
    if not case_no:
        abort(400)
    return redirect(url_for("audit.case", case_no=case_no))


@bp.get("/cases/<case_no>")
@roles_required(*AUDIT_ROLES)
def case(case_no: str):
    """A case as of event `at` (default: the newest) with its diagram and a timeline to step through."""
    at = request.args.get("at", type=int)
    view = audit.case_as_of(onewindow(), case_no, at, reader=current_user.username, diagram=True)
    if request.args.get("format") == "json":
        return Response(json.dumps(view, ensure_ascii=False, default=str), mimetype="application/json")
    return render_template("audit/case.html", view=view)


@bp.get("/figures")
@roles_required(*AUDIT_ROLES)
def figures():
    """On-time, on-site and satisfaction rates with trend and distribution charts, overdue list, cards, reviews."""
    by = request.args.get("by", "department")
    report = supervision.supervision_report(onewindow(), current_user.username, by=by, **_period_args())
    trend = report["trend"]
    charts = {
        "trend": rate_trend_svg("按时办结率趋势 · On-time rate by month", [r["label"] for r in trend],
                                [r["on_time_rate"] for r in trend], [r["concluded"] for r in trend]),
        "distribution": distribution_svg("办理用时分布 · Completion time against the promised limit",
                                         [(d["bin"], d["cases"]) for d in report["distribution"]],
                                         late_from=4),
    }
    return render_template("audit/figures.html", report=report, charts=charts, groupings=supervision.GROUPINGS,
                           exports=supervision.EXPORTS)


@bp.get("/export/<kind>.<fmt>")
@roles_required(*AUDIT_ROLES)
def export(kind: str, fmt: str):
    """Download one export (figures, overdue, cards, reviews, complaints, exchange) as CSV or JSON."""
    if fmt not in ("csv", "json"):
        abort(404)
    data = supervision.export_rows(onewindow(), current_user.username, kind,
                                   by=request.args.get("by", "department"), **_period_args())
    name = f"onewindow-{kind}-{data['from']}-{data['to']}.{fmt}"
    if fmt == "csv":
        body, mimetype = supervision.export_csv(data), "text/csv; charset=utf-8"
    else:
        body, mimetype = json.dumps(data, ensure_ascii=False, indent=2, default=str), "application/json"
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/exchange")
@roles_required(*AUDIT_ROLES)
def exchange():
    """The national status-code export for a period, shown before it is downloaded."""
    data = supervision.export_rows(onewindow(), current_user.username, "exchange", **_period_args())
    return render_template("audit/exchange.html", data=data)


@bp.post("/reviews/<case_no>/rectify")
@roles_required("supervisor")
@acts_once
def rectify(case_no: str):
    """A supervisor records that a bad review was verified, rectified and answered (auditors only read)."""
    supervision.rectify_bad_review(onewindow(), case_no, current_user.username, request.form.get("answer", ""))
    flash("已登记整改 · Rectification recorded", "info")
    return redirect(url_for("audit.figures", **{k: v for k, v in request.args.items() if k in ("from", "to", "by")}))


@bp.get("/complaints")
@roles_required(*AUDIT_ROLES)
def complaint_desk():
    """Efficiency complaints not yet archived (all with ?all=1), oldest first, with reply deadlines."""
    show_all = request.args.get("all") == "1"
    rows = complaints.complaint_queue(onewindow(), current_user.username, include_archived=show_all)
    return render_template("audit/complaints.html", rows=rows, show_all=show_all, labels=stage_labels())


def stage_labels() -> dict[str, str]:
    """Each complaint stage in the visitor's language."""
    return {"received": _("已接收"), "investigated": _("已调查"), "resolved": _("已处理"), "answered": _("已答复"),
            "archived": _("已归档")}


@bp.post("/complaints/<int:complaint_id>/advance")
@roles_required("supervisor")
@acts_once
def advance_complaint(complaint_id: int):
    """A supervisor moves a complaint to its next stage with a text (auditors only read)."""
    try:
        result = complaints.advance_complaint(onewindow(), complaint_id, current_user.username,
                                              request.form.get("to", ""), request.form.get("text", ""))
    except InvalidInput as exc:
        for field, problem in field_errors(exc).items():
            flash(f"{field}: {problem}", "warning")
        return redirect(url_for("audit.complaint_desk"))
    flash(_("投诉 %(id)s 已登记：%(stage)s", id=complaint_id, stage=stage_labels()[result["to"]]), "info")
    return redirect(url_for("audit.complaint_desk"))
