"""Designer pages: items and their versions, any version's diagram, upload a BPMN → findings on the diagram → deploy;
called processes and bundles with their versions, upload their manifest → findings → deploy."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from engine import services
from engine.errors import InvalidInput
from web.security import acts_once, field_errors, onewindow, roles_required

bp = Blueprint("design", __name__, url_prefix="/design")
designers_only = roles_required("designer", "admin")
# Upload refusals the designer use cases word in English, in the page's language.
UPLOAD_WORDS = {
    "a .bpmn file": _l("请上传 .bpmn 文件"),
    "a .process.toml or .bundle.toml file": _l("请上传 .process.toml 或 .bundle.toml 文件"),
    "a called process needs its .bpmn file": _l("被调用流程须与其 BPMN 文件一同上传"),
    "a bundle has no BPMN file": _l("一件事没有 BPMN 文件，请只上传 .bundle.toml"),
}


def _upload_errors(exc: InvalidInput) -> dict[str, str]:
    """Per-field messages of an upload refusal in the page's language."""
    general = field_errors(exc)
    return {name: str(UPLOAD_WORDS[text]) if text in UPLOAD_WORDS else general[name]
            for name, text in exc.fields.items()}


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


def _uploaded(field: str) -> tuple[str, bytes] | None:
    """The file posted as `field` (its name and content), or None when none was chosen."""
    storage = request.files.get(field)
    return (storage.filename, storage.read()) if storage is not None and storage.filename else None


def _upload() -> tuple[str, bytes]:
    uploaded = _uploaded("bpmn")
    if uploaded is None:
        raise InvalidInput("choose a BPMN file", fields={"file": _("请选择 BPMN 文件")})
    return uploaded


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
        return render_template("design/upload.html", code=code, result=None, errors=_upload_errors(exc)), 422
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
                               errors=_upload_errors(exc)), 422
    flash(_("已发布 %(code)s 第 %(version)s 版。", code=published["item"], version=published["version"])
          if published["new"] else _("内容与当前版本相同，未发布新版本。"), "info")
    return redirect(url_for("design.items"))


@bp.get("/catalogue")
@designers_only
def catalogue():
    """Every called process and bundle at its newest version, with its publisher and the items it involves."""
    return render_template("design/catalogue.html",
                           entries=services.designer.catalogue_entries(onewindow(), current_user.username))


@bp.get("/catalogue/<any(process, bundle):kind>/<code>", defaults={"version": None})
@bp.get("/catalogue/<any(process, bundle):kind>/<code>/v<int:version>")
@designers_only
def entry(kind: str, code: str, version: int | None):
    """A called process or bundle: its version history and one version in full (the newest unless named)."""
    shown = services.designer.catalogue_entry(onewindow(), current_user.username, kind, code, version)
    svg = shown["shown"].get("svg")
    return render_template("design/entry.html", entry=shown, diagram=Markup(svg) if svg else None)


def _catalogue_files() -> tuple[tuple[str, bytes] | None, tuple[str, bytes] | None]:
    return _uploaded("manifest"), _uploaded("bpmn")


@bp.route("/catalogue/upload", methods=["GET", "POST"])
@designers_only
def catalogue_upload():
    """Check an uploaded called process (.process.toml with its BPMN) or bundle (.bundle.toml) as `validate` does."""
    if request.method == "GET":
        return render_template("design/catalogue_upload.html", result=None, errors={})
    try:
        result = services.designer.check_catalogue_file(onewindow(), current_user.username, *_catalogue_files())
    except InvalidInput as exc:
        return render_template("design/catalogue_upload.html", result=None, errors=_upload_errors(exc)), 422
    svg = Markup(result["svg"]) if result["svg"] else None
    return render_template("design/catalogue_upload.html", result=result, diagram=svg, errors={}), \
        200 if not result["errors"] else 422


@bp.post("/catalogue/deploy")
@designers_only
@acts_once
def catalogue_deploy():
    """Publish the uploaded called process or bundle (a called process anew also republishes the items calling it)."""
    try:
        published = services.designer.deploy_catalogue_file(onewindow(), current_user.username, *_catalogue_files())
    except InvalidInput as exc:
        result = {"findings": [f.as_dict() for f in exc.findings], "errors": len(exc.findings)}
        return render_template("design/catalogue_upload.html", result=result, diagram=None,
                               errors=_upload_errors(exc)), 422
    # Called processes are published first, then the items calling them: the uploaded entry leads the list.
    uploaded = published[0]
    kind = "process" if "process" in uploaded else "bundle"
    flash(_("已发布 %(code)s 第 %(version)s 版。", code=uploaded[kind], version=uploaded["version"])
          if uploaded["new"] else _("内容与当前版本相同，未发布新版本。"), "info")
    for caller in (row for row in published if "calls" in row):
        flash(_("调用它的事项 %(code)s 随之发布第 %(version)s 版。", code=caller["item"], version=caller["version"]),
              "info")
    return redirect(url_for("design.entry", kind=kind, code=uploaded[kind]))
