"""Flask app factory: wires a OneWindow context, sign-in, CSRF, languages and the blueprints together."""
from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path

from flask import Flask, jsonify, render_template, request, session
from flask_babel import Babel
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFProtect

from engine.bootstrap import OneWindow, open_onewindow
from engine.clock.calendar import SHANGHAI
from engine.errors import OneWindowError
from web.refusals import http_message, refusal_view
from web.security import login_manager, once_token

LANGUAGES = ("zh", "en")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
csrf = CSRFProtect()


def select_locale() -> str:
    """Chinese unless the visitor chose English (the `lang` query parameter sticks for the session)."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    return session.get("lang", "zh")


def compile_catalogues(folder: Path = TRANSLATIONS) -> None:
    """Compile each messages.po to .mo when the .mo is missing or older (run by `make` and the test fixtures)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in folder.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as src:
                catalogue = read_po(src)
            with mo.open("wb") as out:
                write_mo(out, catalogue)


def local_time(value: str | None) -> str:
    """An ISO time as the centre reads it: Shanghai local time to the minute."""
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def create_app(ow: OneWindow | None = None, config: dict | None = None) -> Flask:
    """Build the web app around a OneWindow context (a new one from the environment when omitted)."""
    app = Flask(__name__, instance_path=str(Path.cwd() / "instance"))
    app.config.update(
        SECRET_KEY=os.environ.get("ONEWINDOW_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("ONEWINDOW_INSECURE_COOKIES") != "1",
        REMEMBER_COOKIE_SECURE=os.environ.get("ONEWINDOW_INSECURE_COOKIES") != "1",
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=8 * 3600,
        # Uploads may carry several material files; each file is checked again against its own limit.
        MAX_CONTENT_LENGTH=25 * 1024 * 1024,
        UPLOAD_FOLDER=os.environ.get("ONEWINDOW_UPLOADS") or str(Path(app.instance_path) / "uploads"),
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
        WTF_CSRF_TIME_LIMIT=8 * 3600,
    )
    app.config.update(config or {})
    app.extensions["onewindow"] = ow or open_onewindow()
    Babel(app, locale_selector=select_locale)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_message = _l("请先登录。")
    app.jinja_env.globals.update(once_token=once_token, lang=select_locale)
    app.add_template_filter(local_time, "when")

    from web import audit, auth, design, extensions, inbox, portal, proxy
    from web.api import bp as api_bp

    for module in (auth, portal, inbox, extensions, proxy, design, audit):
        app.register_blueprint(module.bp)
    # The JSON API authenticates each call with a bearer token, not a cookie, so there is no CSRF to guard.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)

    app.register_error_handler(OneWindowError, _refused)

    for code in (400, 403, 404, 405, 413, 429):
        app.register_error_handler(code, _http_error)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


def _refused(exc: OneWindowError):
    """A refusal by a use case: its code and English detail for API clients, the translated message on pages."""
    view = refusal_view(exc)
    headers = {"Retry-After": str(exc.params["seconds"])} if "seconds" in exc.params else {}
    if request.path.startswith("/api/"):
        return jsonify(error=type(exc).__name__, code=exc.code, message=exc.detail, params=exc.params,
                       fields=getattr(exc, "fields", {})), exc.http_status, headers
    return render_template("error.html", code=exc.http_status, message=view["message"], detail=view["detail"],
                           fields=view["fields"]), exc.http_status, headers


def _http_error(exc):
    code = getattr(exc, "code", 500) or 500
    if request.path.startswith("/api/"):
        return jsonify(error=type(exc).__name__, message=exc.description, fields={}), code
    return render_template("error.html", code=code, message=http_message(exc), detail=exc.description), code

