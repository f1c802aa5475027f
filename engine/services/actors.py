"""Who is acting: the signed-in user, their groups and department, and whom they act for."""
from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import bindparam, null, select, union_all
from sqlalchemy.orm import Session

from engine.errors import Forbidden, NotFound
from engine.store.db import database_key
from engine.store.models import Department, User, UserGroup
from engine.store.prepared import Prepared


@dataclass(frozen=True)
class Actor:
    """A resolved user as the use cases see them."""

    user_id: int
    username: str
    display_name: str
    groups: frozenset[str]
    department_id: int | None
    departments_governed: frozenset[int]
    # Absent holders whose backup post (AB岗) this actor is: their held work shows up here and may be done for them.
    covers_for: frozenset[str] = frozenset()

    def in_any(self, groups: list[str] | set[str] | frozenset[str]) -> bool:
        """True when the actor belongs to at least one of `groups`."""
        return bool(self.groups.intersection(groups))

    def covers_department(self, department_id: int | None) -> bool:
        """True when work of `department_id` falls under the actor's department (itself or one below it)."""
        return department_id is None or department_id in self.departments_governed

    def require_group(self, *groups: str) -> None:
        """Refuse unless the actor belongs to one of `groups`."""
        if not self.in_any(set(groups)):
            raise Forbidden(f"{self.username} is not in any of the groups {', '.join(groups)}")


# A prepared statement (engine/store/prepared.py): every request resolves its actor, and this plain read needs
# nothing of the ORM.
_USER, _GROUP = User.__table__, UserGroup.__table__
_HOLDER = _USER.alias("holder")
_BACKUP = _USER.alias("backup")
# One round trip: the user's own rows (one per group), then one row per absent holder they stand in for.
_USER_WITH_GROUPS_AND_HOLDERS = Prepared(union_all(
    select(_USER.c.id, _USER.c.active, _USER.c.display_name, _USER.c.department_id, _GROUP.c.group_code,
           null().label("holder"))
    .outerjoin(_GROUP, _GROUP.c.user_id == _USER.c.id).where(_USER.c.username == bindparam("username")),
    select(null(), null(), null(), null(), null(), _HOLDER.c.username)
    .join(_BACKUP, _HOLDER.c.backup_user_id == _BACKUP.c.id)
    .where(_BACKUP.c.username == bindparam("username"), _HOLDER.c.is_absent.is_(True), _HOLDER.c.active.is_(True)),
))


def resolve_actor(session: Session, username: str) -> Actor:
    """Load a user with their groups, whom they stand in for and the departments they cover (one query)."""
    rows = _USER_WITH_GROUPS_AND_HOLDERS.rows(session, {"username": username})
    own = [r for r in rows if r.holder is None]
    if not own or not own[0].active:
        raise NotFound(f"no active user '{username}'")
    user_id, _, display_name, department_id, _, _ = own[0]
    groups = frozenset(r.group_code for r in own if r.group_code)
    covers_for = frozenset(r.holder for r in rows if r.holder is not None)
    return Actor(user_id, username, display_name, groups, department_id, _departments_below(session, department_id),
                  covers_for)


# The department tree changes a few times a year; re-reading it on every request cost a fifth of a
# completion's time. Cached per database for a minute, so a reorganisation shows up everywhere within that.
_TREE_TTL_SECONDS = 60.0
# Per database: when the tree was read, each department's children, and the departments found below each one so far.
_tree_cache: dict[str, tuple[float, dict[int | None, list[int]], dict[int, frozenset[int]]]] = {}


def _departments_below(session: Session, department_id: int | None) -> frozenset[int]:
    if department_id is None:
        return frozenset()
    key = database_key(session)
    cached = _tree_cache.get(key)
    if cached is None or time.monotonic() - cached[0] > _TREE_TTL_SECONDS:
        children: dict[int | None, list[int]] = {}
        for dep_id, parent_id in session.execute(select(Department.id, Department.parent_id)):
            children.setdefault(parent_id, []).append(dep_id)
        cached = (time.monotonic(), children, {})
        _tree_cache[key] = cached
    governed = cached[2].get(department_id)
    if governed is None:
        found: set[int] = set()
        stack = [department_id]
        while stack:
            dep = stack.pop()
            found.add(dep)
            stack.extend(cached[1].get(dep, []))
        governed = cached[2][department_id] = frozenset(found)
    return governed


def forget_departments() -> None:
    """Drop the cached department tree (after the organisation was changed in this process)."""
    _tree_cache.clear()
