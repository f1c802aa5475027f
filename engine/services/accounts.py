"""Account use cases: sign-in attempts and lookup-code rate limiting, API tokens, one-time form tokens, absence and backup posts (AB岗)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound, OneWindowError
from engine.services.absence import record_cover_change
from engine.services.actors import resolve_actor
from engine.store.models import ApiToken, Department, FormToken, LoginAttempt, User, UserGroup
from engine.store.uow import reading, writing

FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_KEY = 5
MAX_FAILURES_PER_REMOTE = 20
FORM_TOKEN_TTL = timedelta(days=1)
ATTEMPTS_KEPT = timedelta(days=1)


class Unauthenticated(OneWindowError):
    """No valid credentials were given (wrong password, unknown or revoked token)."""

    http_status = 401


class TooManyAttempts(OneWindowError):
    """Too many failed sign-ins for this user or address in a short time."""

    http_status = 429


def refuse_when_hammered(session: Session, key: str, remote: str, now: datetime) -> None:
    """Raise TooManyAttempts after repeated failures for `key` (a tracked case number) or from `remote`.

    Sign-in does not come here: it slows the guesser down instead of locking the account (engine.services.signin).
    """
    failures = select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.succeeded.is_(False), LoginAttempt.at >= now - FAILURE_WINDOW)
    if (session.scalar(failures.where(LoginAttempt.username == key)) >= MAX_FAILURES_PER_KEY
            or session.scalar(failures.where(LoginAttempt.remote == remote)) >= MAX_FAILURES_PER_REMOTE):
        raise TooManyAttempts("too many failed attempts: wait 15 minutes and try again")


def record_attempt(session: Session, key: str, remote: str, succeeded: bool, now: datetime) -> None:
    """Remember one attempt (in the caller's transaction)."""
    # Attempts older than a day decide nothing any more; dropping them keeps the table small.
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - ATTEMPTS_KEPT))
    session.add(LoginAttempt(username=key[:64], remote=remote[:64], succeeded=succeeded, at=now))


def profile(ow: OneWindow, username: str) -> dict[str, Any]:
    """A signed-in user's name, groups, department and backup-post state."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        user = session.get(User, actor.user_id)
        department = session.get(Department, user.department_id) if user.department_id else None
        backup = session.get(User, user.backup_user_id) if user.backup_user_id else None
        return {"username": username, "display_name": actor.display_name, "groups": sorted(actor.groups),
                "department": department.code if department else None,
                "department_name": department.name if department else None,
                "department_name_en": department.name_en if department else None,
                "level": department.level if department else None,
                "is_absent": user.is_absent, "backup": backup.username if backup else None,
                "covers_for": sorted(actor.covers_for)}


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_api_token(ow: OneWindow, username: str, label: str) -> str:
    """Create a bearer token for the JSON API; the clear token is returned once and never stored."""
    label = (label or "").strip()
    if not label or len(label) > 100:
        raise InvalidInput("a token needs a label of 1–100 characters", fields={"label": "1–100 characters"})
    token = "ow_" + secrets.token_urlsafe(32)
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        session.add(ApiToken(user_id=actor.user_id, label=label, token_hash=_token_digest(token),
                             created_at=ow.clock.now()))
    return token


def list_api_tokens(ow: OneWindow, username: str) -> list[dict[str, Any]]:
    """The user's tokens (labels and dates only)."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        rows = session.scalars(select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id))
        return [{"id": t.id, "label": t.label, "created_at": t.created_at.isoformat(),
                 "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                 "revoked": t.revoked_at is not None} for t in rows]


def revoke_api_token(ow: OneWindow, username: str, token_id: int) -> None:
    """Revoke one of the user's own tokens."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        token = session.get(ApiToken, token_id)
        if token is None or token.user_id != actor.user_id:
            raise NotFound(f"no token {token_id}")
        token.revoked_at = token.revoked_at or ow.clock.now()


def user_for_token(ow: OneWindow, token: str) -> str:
    """The username a bearer token belongs to, or Unauthenticated."""
    with writing(ow.db) as session:
        row = session.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                              .where(ApiToken.token_hash == _token_digest(token or ""))).first()
        if row is None or row[0].revoked_at is not None or not row[1].active:
            raise Unauthenticated("unknown or revoked API token")
        row[0].last_used_at = ow.clock.now()
        return row[1].username


def consume_form_token(ow: OneWindow, token: str) -> bool:
    """Mark a one-time form token used; False when it was used before (a double submission)."""
    if not token:
        return False
    now = ow.clock.now()
    try:
        with writing(ow.db) as session:
            # Old tokens are dropped as new ones arrive, so the table stays the size of a day's forms.
            session.execute(delete(FormToken).where(FormToken.used_at < now - FORM_TOKEN_TTL))
            session.add(FormToken(token_hash=_token_digest(token), used_at=now))
    except Conflict:
        return False
    return True


def set_absence(ow: OneWindow, username: str, holder: str, absent: bool, backup: str | None) -> dict[str, Any]:
    """Mark a post holder absent (or back) and name their backup post; by the holder, their head or an admin."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        target = session.scalar(select(User).where(User.username == holder, User.active.is_(True)))
        if target is None:
            raise NotFound(f"no active user '{holder}'")
        manages = actor.in_any({"dept_head", "admin"}) and actor.covers_department(target.department_id)
        if actor.username != holder and not manages:
            raise Forbidden(f"{username} may not change the absence of {holder}")
        backup_user = None
        if backup:
            backup_user = session.scalar(select(User).where(User.username == backup, User.active.is_(True)))
            if backup_user is None:
                raise InvalidInput(f"no active user '{backup}'", fields={"backup": "unknown user"})
            if backup_user.id == target.id:
                raise InvalidInput("a post cannot be its own backup", fields={"backup": "choose someone else"})
            shared = set(session.scalars(select(UserGroup.group_code).where(UserGroup.user_id == target.id))) & set(
                session.scalars(select(UserGroup.group_code).where(UserGroup.user_id == backup_user.id)))
            if not shared:
                raise InvalidInput(f"{backup} holds none of {holder}'s posts", fields={"backup": "needs the same post"})
            # The backup works the holder's held tasks without a department check (authorise_work trusts
            # covers_for), so a backup from outside the holder's department would act across the department line.
            same_line = backup_user.department_id == target.department_id or (
                backup_user.department_id is not None
                and resolve_actor(session, holder).covers_department(backup_user.department_id))
            if not same_line:
                raise InvalidInput(f"{backup} works in another department than {holder}",
                                   fields={"backup": "needs the same department"})
        if absent and backup_user is None and target.backup_user_id is None:
            raise InvalidInput("name a backup post before marking the holder absent", fields={"backup": "required"})
        was_absent, old_backup_id = target.is_absent, target.backup_user_id
        if backup_user is not None:
            target.backup_user_id = backup_user.id
        target.is_absent = absent
        # The held work now shows up in (or leaves) the backup's inbox: each case it belongs to records that.
        record_cover_change(session, username, target, was_absent, old_backup_id, ow.clock.now())
    return profile(ow, holder)
