"""Sign-in, sign-out, and the user's own page: API tokens and absence with a backup post (AB岗)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from engine import services
from engine.errors import InvalidInput
from engine.services import signin
from engine.services.accounts import TooManyAttempts, Unauthenticated
from web.security import WebUser, acts_once, field_errors, onewindow

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _landing(user: WebUser) -> str:
    """Where each role starts."""
    if user.has("window", "reviewer", "inspector", "chief", "dept_head"):
        return url_for("inbox.index")
    if user.has("proxy_agent"):
        return url_for("proxy.dashboard")
    if user.has("designer"):
        return url_for("design.items")
    if user.has("auditor", "supervisor"):
        return url_for("audit.index")
    return url_for("portal.mine")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form; repeated failures from an address slow it down (never lock the account)."""
    error, status, headers = None, 200, {}
    if request.method == "POST":
        username = request.form.get("username", "")
        try:
            profile = signin.authenticate(onewindow(), username, request.form.get("password", ""),
                                          request.remote_addr or "-")
        except Unauthenticated:
            error, status = _("用户名或密码错误。"), 401
        except TooManyAttempts as exc:
            seconds = exc.params.get("seconds", 60)
            error, status, headers = _("登录尝试过于频繁，请 %(n)s 秒后再试。", n=seconds), 429, {"Retry-After": str(seconds)}
        else:
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
            user = WebUser(profile)
            login_user(user)
            target = request.args.get("next", "")
            # Only local paths: an open redirect would let a phishing link borrow our sign-in page.
            if not target.startswith("/") or target.startswith("//"):
                target = _landing(user)
            return redirect(target)
    return render_template("auth/login.html", error=error), status, headers


@bp.post("/logout")
@login_required
def logout():
    """Sign out and forget the session."""
    logout_user()
    session.clear()
    return redirect(url_for("portal.index"))


@bp.get("/me")
@login_required
def me():
    """The user's profile, tokens and absence settings."""
    return _me_page()


def _me_page(errors: dict | None = None, new_token: str | None = None, status: int = 200):
    ow = onewindow()
    return render_template("auth/me.html", profile=services.accounts.profile(ow, current_user.username),
                           tokens=services.accounts.list_api_tokens(ow, current_user.username),
                           errors=errors or {}, new_token=new_token), status


@bp.post("/tokens")
@login_required
@acts_once
def new_token():
    """Create an API token; it is shown once."""
    try:
        token = services.accounts.issue_api_token(onewindow(), current_user.username, request.form.get("label", ""))
    except InvalidInput as exc:
        return _me_page(errors=field_errors(exc), status=422)
    return _me_page(new_token=token)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of one's tokens."""
    services.accounts.revoke_api_token(onewindow(), current_user.username, token_id)
    flash(_("令牌已作废。"), "info")
    return redirect(url_for("auth.me"))


@bp.post("/absence")
@login_required
@acts_once
def absence():
    """Mark oneself (or, for a head, someone of the department) absent or back, naming the backup post."""
    holder = request.form.get("holder") or current_user.username
    try:
        services.accounts.set_absence(onewindow(), current_user.username, holder,
                                      request.form.get("absent") == "1", request.form.get("backup") or None)
    except InvalidInput as exc:
        return _me_page(errors=field_errors(exc), status=422)
    flash(_("AB岗设置已保存。"), "info")
    return redirect(url_for("auth.me"))
