"""The JSON API /api/v1: apply, track, inbox, claim, complete, case, history — per-user bearer tokens."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, g, jsonify, request

from engine import services
from engine.errors import InvalidInput
from engine.services.accounts import Unauthenticated
from web.api.openapi import document
from web.reads import logs_look
from web.security import STAFF_GROUPS, onewindow

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def token_required(view: Callable) -> Callable:
    """Resolve `Authorization: Bearer <token>` to a username (in g.username) or answer 401."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("send Authorization: Bearer <token> (create one on your profile page)")
        g.username = services.accounts.user_for_token(onewindow(), token.strip())
        return view(*args, **kwargs)
    return wrapper


def body() -> dict[str, Any]:
    """The request's JSON object, or a 422 naming the problem."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object", fields={"body": "a JSON object"})
    return data


def _object(data: dict, key: str, required: bool) -> dict | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"'{key}' must be a JSON object", fields={key: "a JSON object"})
    return value


def _text(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"'{key}' is required", fields={key: "required"})
    return value.strip()


def public_side(username: str) -> bool:
    """True for a caller outside the centre (an applicant or a proxy agent), who sees what the portal shows."""
    return not set(services.accounts.profile(onewindow(), username)["groups"]) & STAFF_GROUPS


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this API."""
    return jsonify(document())


@bp.get("/items")
def items():
    """The catalogue."""
    return jsonify(items=services.list_items(onewindow()))


@bp.post("/cases")
@token_required
def apply():
    """Apply for an item (applicants online, window clerks for a walk-in applicant, proxy agents for a mandant)."""
    data = body()
    on_behalf_of = data.get("on_behalf_of")
    if on_behalf_of is not None and not isinstance(on_behalf_of, str):
        raise InvalidInput("'on_behalf_of' must be a username", fields={"on_behalf_of": "a username"})
    applicant = _object(data, "applicant", False)
    if applicant is not None and public_side(g.username):
        # As on the portal: an applicant files under their account's name, a proxy agent under the mandant's.
        applicant = {k: v for k, v in applicant.items() if k != "name"}
    receipt = services.apply(onewindow(), _text(data, "item_code"), g.username, _object(data, "data", True),
                             applicant=applicant, on_behalf_of=on_behalf_of)
    return jsonify(receipt), 201


@bp.post("/track")
def track():
    """Track a case by number and lookup code, no account needed."""
    data = body()
    return jsonify(services.portal.track(onewindow(), _text(data, "case_no"), _text(data, "lookup_code"),
                                         request.remote_addr or "-"))


@bp.get("/inbox")
@token_required
@logs_look("inbox")
def inbox():
    """The caller's open work, by due time."""
    limit = request.args.get("limit", 50, type=int)
    offset = request.args.get("offset", 0, type=int)
    rows = services.inbox(onewindow(), g.username, request.args.get("scope", "all"), limit, offset)
    return jsonify(items=rows)


@bp.post("/tasks/<task_id>/claim")
@token_required
def claim(task_id: str):
    """Claim a task."""
    services.claim(onewindow(), task_id, g.username)
    return jsonify(task_id=task_id, assignee=g.username)


@bp.post("/tasks/<task_id>/complete")
@token_required
def complete(task_id: str):
    """Complete a task with its form data (a refusal at intake: with its reason, and `refusal_basis` if given)."""
    payload = body()
    basis = payload.get("refusal_basis")
    status = services.complete(onewindow(), task_id, g.username, _object(payload, "data", True),
                                  basis if isinstance(basis, str) else "")
    return jsonify(task_id=task_id, status=status)


@bp.get("/cases/<case_no>")
@token_required
@logs_look("case")
def case(case_no: str):
    """A case the caller may see (applicants and proxy agents get the portal's public view)."""
    return jsonify(_case_view(case_no))


@bp.get("/cases/<case_no>/history")
@token_required
@logs_look("history")
def history(case_no: str):
    """Every event of a case the caller may see (public events only for applicants and proxy agents)."""
    return jsonify(events=_case_view(case_no)["events"])


def _case_view(case_no: str) -> dict[str, Any]:
    # The full case file names clerks, internal events and opinions: staff only.
    if public_side(g.username):
        return services.portal.public_case(onewindow(), case_no, g.username)
    return services.casefile.case_file(onewindow(), case_no, g.username)
