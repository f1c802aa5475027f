"""Who is signed in, what they may open, and forms that act only once."""
from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user
from itsdangerous import BadData, URLSafeSerializer

from engine import services
from engine.bootstrap import OneWindow
from engine.errors import NotFound
from engine.services.accounts import FORM_TOKEN_TTL
from web.refusals import field_message

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"

STAFF_GROUPS = frozenset({"window", "reviewer", "inspector", "chief", "dept_head", "supervisor", "auditor", "admin"})


def onewindow() -> OneWindow:
    """The OneWindow context of this app."""
    return current_app.extensions["onewindow"]


class WebUser(UserMixin):
    """The signed-in user as the web layer sees them (identity only; rights are checked in the use cases)."""

    def __init__(self, profile: dict[str, Any]):
        self.profile = profile
        self.username = profile["username"]
        self.groups = frozenset(profile["groups"])

    def get_id(self) -> str:
        """Flask-Login keeps the username in the session."""
        return self.username

    def has(self, *groups: str) -> bool:
        """True when the user is in any of `groups`."""
        return bool(self.groups.intersection(groups))

    @property
    def is_staff(self) -> bool:
        """True for the centre's own people (clerks, reviewers, supervisors …)."""
        return bool(self.groups & STAFF_GROUPS)


@login_manager.user_loader
def _load_user(username: str) -> WebUser | None:
    try:
        return WebUser(services.accounts.profile(onewindow(), username))
    except NotFound:
        return None


def roles_required(*groups: str) -> Callable:
    """Let only signed-in users of `groups` reach the page (the use case checks again, with the data)."""
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has(*groups):
                abort(403)
            return view(*args, **kwargs)
        return wrapper
    return decorate


_ONCE_SALT = "onewindow-once-token"
_SESSION_KEY = "once_key"


def once_token() -> str:
    """A one-time token for a form (its hidden `once` field), issued by the server as the form is rendered:
    signed with the app's secret, bound to this browser session and stamped with the clock's time."""
    return _once_signer().dumps({"n": secrets.token_urlsafe(12), "s": _session_binding(),
                                 "t": onewindow().clock.now().timestamp()})


def acts_once(view: Callable) -> Callable:
    """Run a POST view only for a token this server issued and only once: a forged, foreign or expired token is
    refused (400), a repeat of a used one (a double click, a reload) is reported and ignored."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if request.method == "POST":
            token = request.form.get("once", "")
            if not _issued_here(token):
                abort(400, description=_("表单已失效，请刷新页面后重新提交。"))
            if not services.accounts.consume_form_token(onewindow(), token):
                flash(_("该表单已经提交过，本次未重复处理。"), "warning")
                return redirect(request.referrer if _same_site(request.referrer) else url_for("portal.index"))
        return view(*args, **kwargs)
    return wrapper


def _once_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=_ONCE_SALT)


def _session_binding() -> str:
    """A random value kept in this session: a token copied into another session (or another user's) is refused."""
    if _SESSION_KEY not in session:
        session[_SESSION_KEY] = secrets.token_urlsafe(12)
    return session[_SESSION_KEY]


def _issued_here(token: str) -> bool:
    try:
        claims = _once_signer().loads(token or "")
        issued = datetime.fromtimestamp(float(claims["t"]), onewindow().clock.now().tzinfo)
    except (BadData, KeyError, TypeError, ValueError):
        return False
    # Used tokens are forgotten after FORM_TOKEN_TTL (accounts.consume_form_token), so none may live longer.
    age = onewindow().clock.now() - issued
    return claims.get("s") == session.get(_SESSION_KEY) and age <= FORM_TOKEN_TTL


def _same_site(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)


def field_errors(exc: Exception) -> dict[str, str]:
    """Per-field messages of a refusal, with the common ones in the UI language."""
    return {k: field_message(v) for k, v in getattr(exc, "fields", {}).items()}
