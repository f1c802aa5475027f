"""Auditors' and supervisors' looks through the clerk pages and the JSON API go to the read log, once a request.

The audit pages log their own reads; a page here calls several read use cases (case file, diagram, task), so
the log is written by the view, after it answered, not by each use case.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import current_app, g, request
from flask_login import current_user

from engine.services.audit import AUDIT_GROUPS, log_look
from web.security import onewindow


def logs_look(action: str) -> Callable:
    """Log the view's case (`case_no`) or task (`task_id`) when an auditor or supervisor got an answer."""
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            response = current_app.make_response(view(*args, **kwargs))
            if response.status_code < 400:
                note_look(action, kwargs.get("case_no"), kwargs.get("task_id"))
            return response
        return wrapper
    return decorate


def note_look(action: str, case_no: str | None = None, task_id: str | None = None) -> None:
    """Log one look for this request (a second call in the same request is ignored)."""
    if g.get("look_logged"):
        return
    # The API's caller comes from the bearer token; a page's from the session, whose groups are already known,
    # so a clerk's page costs no extra query.
    username = g.get("username")
    if username is None:
        if not (current_user.is_authenticated and current_user.has(*AUDIT_GROUPS)):
            return
        username = current_user.username
    g.look_logged = True
    via = "api" if request.blueprint == "api" else "inbox"
    log_look(onewindow(), username, action, case_no, task_id, via=via, path=request.full_path.rstrip("?"))
