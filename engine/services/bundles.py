"""Bundles (一件事): one form and one intake that open and accept parallel sub-cases of several items.

A bundle is `processes/<code>.bundle.toml`: its application form, and for each item the form fields that
item takes. Each sub-case is an ordinary case of its item (own number, workflow, clocks and history) and runs
in parallel with the others; the bundle links them and shows them together.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.bootstrap import OneWindow
from engine.catalog import PROCESSES_DIR
from engine.errors import Conflict, NotFound
from engine.history import append_event
from engine.runtime import state_hash
from engine.services.actors import resolve_actor
from engine.services.intake import intake_case, open_case
from engine.store.models import Case, CaseBundle
from engine.store.uow import reading, writing

_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def read_bundle(code: str, folder: Path = PROCESSES_DIR) -> dict[str, Any]:
    """A bundle's definition from `<code>.bundle.toml`."""
    path = folder / f"{code}.bundle.toml"
    if not _CODE.match(code or "") or not path.is_file():
        raise NotFound(f"no bundle '{code}'")
    return tomllib.loads(path.read_text(encoding="utf-8"))


def apply_bundle(ow: OneWindow, bundle_code: str, username: str, data: dict[str, Any],
                 applicant: dict[str, Any] | None = None, on_behalf_of: str | None = None) -> dict[str, Any]:
    """Submit one bundle form: every item of the bundle gets its sub-case, all in one transaction."""
    bundle = read_bundle(bundle_code)
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        cleaned = ow.forms.clean(bundle["application_form"], data)
        cases = [open_case(ow, session, actor, entry["item"], {f: cleaned[f] for f in entry["fields"] if f in cleaned},
                           applicant, on_behalf_of) for entry in bundle["items"]]
        # The bundle is numbered after its first sub-case, so the number needs no counter of its own.
        bundle_no = f"{cases[0].case_no}-YJS"
        for case in cases:
            session.add(CaseBundle(bundle_no=bundle_no, bundle_code=bundle_code, case_id=case.id))
            append_event(session, case, "bundled", username,
                         {"bundle_no": bundle_no, "bundle_code": bundle_code,
                          "cases": [c.case_no for c in cases], "status": case.status},
                         ow.clock.now(), state_hash(case.state_json), on_behalf_of)
        return {"bundle_no": bundle_no, "bundle_code": bundle_code, "cases": [_view(c) for c in cases]}


def accept_bundle(ow: OneWindow, bundle_no: str, username: str, opinion: str = "") -> dict[str, Any]:
    """The bundle's one intake: accept every sub-case still waiting for intake (instant items conclude on the spot)."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group("window")
        cases = _cases(session, bundle_no)
        waiting = [c for c in cases if c.status == "RECEIVED"]
        if not waiting:
            raise Conflict(f"bundle {bundle_no} has no sub-case waiting for intake")
        for case in waiting:
            intake_case(ow, session, actor, case, {"intake_decision": "accept", "intake_opinion": opinion})
        return {"bundle_no": bundle_no, "cases": [_view(c) for c in cases]}


def bundle_detail(ow: OneWindow, bundle_no: str) -> dict[str, Any]:
    """A bundle's sub-cases with their statuses; the bundle is done when every sub-case is."""
    with reading(ow.db) as session:
        cases = _cases(session, bundle_no)
        concluded = all(c.concluded_at is not None for c in cases)
        return {"bundle_no": bundle_no, "done": concluded, "cases": [_view(c) for c in cases]}


def _cases(session, bundle_no: str) -> list[Case]:
    cases = session.scalars(select(Case).join(CaseBundle, CaseBundle.case_id == Case.id)
                            .where(CaseBundle.bundle_no == bundle_no).order_by(Case.id)).all()
    if not cases:
        raise NotFound(f"no bundle case {bundle_no}")
    return list(cases)


def _view(case: Case) -> dict[str, Any]:
    return {"case_no": case.case_no, "item_code": case.item_code, "status": case.status, "result": case.result}

