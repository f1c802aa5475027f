"""Designer pages: items and their versions, any version's diagram, upload a BPMN → findings on the diagram → deploy."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from engine import services
from engine.errors import InvalidInput
from web.security import acts_once, field_errors, onewindow, roles_required

bp = Blueprint("design", __name__, url_prefix="/design")
designers_only = roles_required("designer", "admin")


@bp.get("/")
@designers_only
def items():
    """Every item with its published versions."""
    return render_template("design/items.html", items=services.designer.item_versions(onewindow(), current_user.username))


@bp.get("/items/<code>/v<int:version>")
@designers_only
def version(code: str, version: int):
    """The diagram of one published version."""
    svg = services.designer.version_diagram(onewindow(), current_user.username, code, version)
    return render_template("design/version.html", code=code, version=version, diagram=Markup(svg))


def _upload() -> tuple[str, bytes]:
    storage = request.files.get("bpmn")
    if storage is None or not storage.filename:
        raise InvalidInput("choose a BPMN file", fields={"file": _("请选择 BPMN 文件")})
    return storage.filename, storage.read()


@bp.route("/items/<code>/upload", methods=["GET", "POST"])
@designers_only
def upload(code: str):
    """Check an uploaded BPMN against the item: findings listed, offending elements marked on the diagram."""
    if request.method == "GET":
        return render_template("design/upload.html", code=code, result=None, errors={})
    try:
        filename, data = _upload()
        result = services.designer.check_bpmn(onewindow(), current_user.username, code, filename, data)
    except InvalidInput as exc:
        return render_template("design/upload.html", code=code, result=None, errors=field_errors(exc)), 422
    svg = Markup(result["svg"]) if result["svg"] else None
    return render_template("design/upload.html", code=code, result=result, diagram=svg, errors={},
                           filename=filename), 200 if not result["errors"] else 422


@bp.post("/items/<code>/deploy")
@designers_only
@acts_once
def deploy(code: str):
    """Publish the uploaded BPMN as the item's next version (refused with findings when it has errors)."""
    try:
        filename, data = _upload()
        published = services.designer.deploy_bpmn(onewindow(), current_user.username, code, filename, data)
    except InvalidInput as exc:
        result = {"findings": [f.as_dict() for f in exc.findings], "svg": None, "errors": len(exc.findings)}
        return render_template("design/upload.html", code=code, result=result, diagram=None,
                               errors=field_errors(exc)), 422
    flash(_("已发布 %(code)s 第 %(version)s 版。", code=published["item"], version=published["version"])
          if published["new"] else _("内容与当前版本相同，未发布新版本。"), "info")
    return redirect(url_for("design.items"))
