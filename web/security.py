"""Who is signed in, what they may open, and forms that act only once."""
from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user

from engine import services
from engine.bootstrap import OneWindow
from engine.errors import NotFound

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


def once_token() -> str:
    """A fresh one-time token for a form (put in a hidden `once` field)."""
    return secrets.token_urlsafe(18)


def acts_once(view: Callable) -> Callable:
    """Run a POST view only for the first submission of its form; a repeat is reported and ignored."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if request.method == "POST" and not services.accounts.consume_form_token(onewindow(), request.form.get("once", "")):
            flash(_("该表单已经提交过，本次未重复处理。"), "warning")
            return redirect(request.referrer if _same_site(request.referrer) else url_for("portal.index"))
        return view(*args, **kwargs)
    return wrapper


def _same_site(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)


def field_errors(exc: Exception) -> dict[str, str]:
    """Per-field messages of a refusal, with the common ones in the UI language."""
    words = {"required": _("必填项"), "unknown filter": _("未知筛选条件"), "not a field of this form": _("不是本表单的字段")}
    return {k: words.get(v, v) for k, v in getattr(exc, "fields", {}).items()}
