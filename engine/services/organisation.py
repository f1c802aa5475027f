"""Organisation set-up: departments, users and their groups (loaded from a TOML file for the demo)."""
from __future__ import annotations

import tomllib
from pathlib import Path

from sqlalchemy import delete, select
from werkzeug.security import generate_password_hash

from engine.bootstrap import OneWindow
from engine.errors import InvalidInput
from engine.services.actors import forget_departments
from engine.store.models import Department, User, UserGroup
from engine.store.uow import writing

DEMO_ORGANISATION = Path(__file__).resolve().parents[1] / "data" / "demo-organisation.toml"


def load_organisation(ow: OneWindow, path: Path, password: str) -> dict[str, int]:
    """Create or update the departments and users of an organisation file; returns counts."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    # A cheap hash keeps loading many demo users fast; real accounts get the default (stronger) method.
    hashed = generate_password_hash(password, method="pbkdf2:sha256:60000")
    with writing(ow.db) as session:
        by_code: dict[str, Department] = {d.code: d for d in session.scalars(select(Department))}
        for dep in data.get("departments", []):
            row = by_code.get(dep["code"]) or Department(code=dep["code"])
            row.name, row.name_en, row.level = dep["name"], dep.get("name_en", ""), dep["level"]
            if dep.get("parent"):
                if dep["parent"] not in by_code:
                    raise InvalidInput(f"{path.name}: department {dep['code']} names unknown parent {dep['parent']}")
                row.parent_id = by_code[dep["parent"]].id
            session.add(row)
            session.flush()
            by_code[row.code] = row
        for spec in data.get("users", []):
            user = session.scalar(select(User).where(User.username == spec["username"])) or User(username=spec["username"])
            user.display_name = spec["display_name"]
            user.department_id = by_code[spec["department"]].id if spec.get("department") else None
            if not user.password_hash:
                user.password_hash = hashed
            session.add(user)
            session.flush()
            session.execute(delete(UserGroup).where(UserGroup.user_id == user.id))
            session.add_all(UserGroup(user_id=user.id, group_code=g) for g in spec.get("groups", []))
        forget_departments()
        return {"departments": len(data.get("departments", [])), "users": len(data.get("users", []))}
