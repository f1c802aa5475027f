"""Sign-in with a slowing back-off instead of an account lock.

Failures are counted per (username, address) and per address. Each counted failure beyond a few doubles the wait
before the next attempt is even checked, so guessing stays slow; but a stranger typing wrong passwords from
elsewhere only slows themselves, never the clerk at their own desk. Guesses at one account spread over many
addresses slow that account down too, except from an address the account signed in from lately.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from engine.bootstrap import OneWindow
from engine.services.accounts import (
    FAILURE_WINDOW,
    TooManyAttempts,
    Unauthenticated,
    profile,
    record_attempt,
)
from engine.store.models import LoginAttempt, User
from engine.store.uow import writing

# A hash a password can be compared with when the user does not exist, so both paths take the same time.
_DUMMY_HASH = "pbkdf2:sha256:60000$dummysalt$" + "0" * 64


@dataclass(frozen=True)
class Backoff:
    """`free` failures cost nothing; each one after them doubles the wait, from `base` seconds up to `cap`."""

    free: int
    base: float
    cap: float

    def wait(self, failures: int) -> float:
        """Seconds to wait after the last of `failures` counted failures."""
        if failures < self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** (failures - self.free))


PAIR = Backoff(free=3, base=2, cap=FAILURE_WINDOW.total_seconds())
# An office behind one address shares it: more room, a shorter cap, yet still slow for guessing many accounts.
ADDRESS = Backoff(free=20, base=1, cap=300)
# Many addresses guessing one account (a botnet): slowed down, but far less than a lock, and never at a known address.
ACCOUNT = Backoff(free=20, base=1, cap=60)


def authenticate(ow: OneWindow, username: str, password: str, remote: str) -> dict[str, Any]:
    """Check a username and password; returns the profile, or raises Unauthenticated or TooManyAttempts (whose
    `params["seconds"]` says how long to wait)."""
    now = ow.clock.now()
    username, remote = (username or "").strip()[:64], (remote or "-")[:64]
    with writing(ow.db) as session:
        wait = seconds_to_wait(session, username, remote, now)
        if wait > 0:
            seconds = math.ceil(wait)
            raise TooManyAttempts(f"too many failed sign-ins: try again in {seconds} seconds",
                                  code="too_many_attempts", params={"seconds": seconds})
        user = session.scalar(select(User).where(User.username == username))
        # The same hash work whether or not the user exists, so timing does not tell which names are real.
        ok = check_password_hash(user.password_hash if user and user.password_hash else _DUMMY_HASH, password or "")
        ok = ok and user is not None and user.active
        record_attempt(session, username, remote, ok, now)
    if not ok:
        raise Unauthenticated("wrong username or password")
    return profile(ow, username)


def seconds_to_wait(session: Session, username: str, remote: str, now: datetime) -> float:
    """How long this (username, address) must still wait before its next attempt is checked (0: go ahead)."""
    since = now - FAILURE_WINDOW
    failed = (LoginAttempt.succeeded.is_(False), LoginAttempt.at >= since)
    last_ok = session.scalar(select(func.max(LoginAttempt.at)).where(
        LoginAttempt.username == username, LoginAttempt.remote == remote, LoginAttempt.succeeded.is_(True)))
    # A success from this address forgets the pair's earlier failures (the clerk mistyped, then got it right).
    pair = (*failed, LoginAttempt.username == username, LoginAttempt.remote == remote,
            LoginAttempt.at > (last_ok or since))
    waits = [_remaining(session, PAIR, pair, now),
             _remaining(session, ADDRESS, (*failed, LoginAttempt.remote == remote), now)]
    # Successes are kept for ATTEMPTS_KEPT: an address the account signed in from that recently is its own.
    if last_ok is None:
        waits.append(_remaining(session, ACCOUNT, (*failed, LoginAttempt.username == username), now))
    return max(waits)


def _remaining(session: Session, backoff: Backoff, where: tuple, now: datetime) -> float:
    count, last = session.execute(select(func.count(), func.max(LoginAttempt.at)).where(*where)).one()
    if not count:
        return 0.0
    return max(0.0, (last + timedelta(seconds=backoff.wait(count)) - now).total_seconds())
