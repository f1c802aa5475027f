"""Applicant-side use cases: the service guide, tracking without an account, materials, ratings and complaints."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.catalog import latest_version
from engine.clock.ladder import local_day
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.history import append_event, case_state_hash
from engine.services.accounts import record_attempt, refuse_when_hammered
from engine.services.actors import Actor, resolve_actor
from engine.services.casefile import visible_case
from engine.services.intake import refusal_notice
from engine.services.proxy import acting_for_case
from engine.store.models import Case, CaseEvent, Complaint, Notification, ProcessVersion, Rating, Upload, WorkItem
from engine.store.uow import reading, writing

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_FILES_PER_CASE = 20
# Accepted types: the extension must agree with the file's first bytes, so a renamed script is refused.
FILE_TYPES = {".pdf": ("application/pdf", b"%PDF-"), ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
              ".jpg": ("image/jpeg", b"\xff\xd8\xff"), ".jpeg": ("image/jpeg", b"\xff\xd8\xff")}
RATING_LEVELS = {5: "very_satisfied", 4: "satisfied", 3: "basically_satisfied", 2: "dissatisfied",
                 1: "very_dissatisfied"}
RATEABLE = {"DECIDED", "REJECTED_AT_INTAKE", "DELIVERED", "CLOSED"}
# Event types an applicant may see when tracking; internal ones (claims, reads) stay inside the centre.
PUBLIC_EVENTS = {"applied", "accepted", "rejected_at_intake", "task_completed", "withdrawn", "materials_attached",
                 "rated", "complained", "delivered", "clock_paused", "clock_resumed", "extension_granted",
                 "clock_rebudgeted",
                 "correction_requested", "correction_supplied", "correction_received", "supplemented",
                 "complaint_answered"}


@dataclass(frozen=True)
class MaterialFile:
    """One uploaded file for a named material of the item's checklist."""

    material: str
    filename: str
    data: bytes


def service_guide(ow: OneWindow, item_code: str) -> dict[str, Any]:
    """The public service guide (办事指南) of an item's newest version: content, materials, limits, fees, basis."""
    with reading(ow.db) as session:
        version = latest_version(session, item_code)
        return {**version.manifest, "version": version.version, "deployed_at": version.deployed_at.isoformat()}


def check_file(name: str, data: bytes) -> tuple[str, str, str]:
    """Refuse crafted names, wrong types and oversized files; returns (clean name, extension, content type)."""
    clean = unicodedata.normalize("NFC", (name or "").strip())
    crafted = (not clean or len(clean) > 150 or clean.startswith(".") or ".." in clean
               or any(c in clean for c in '/\\:*?"<>|') or any(unicodedata.category(c).startswith("C") for c in clean))
    if crafted:
        raise InvalidInput(f"file name '{name[:80]}' is not allowed", fields={"file": "plain file names only"})
    ext = Path(clean).suffix.lower()
    if ext not in FILE_TYPES:
        raise InvalidInput(f"'{clean}': only PDF, PNG and JPEG files are accepted", fields={"file": "PDF/PNG/JPEG only"})
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(f"'{clean}' is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB",
                           fields={"file": "too large"})
    if not data:
        raise InvalidInput(f"'{clean}' is empty", fields={"file": "empty file"})
    content_type, magic = FILE_TYPES[ext]
    if not data.startswith(magic):
        raise InvalidInput(f"'{clean}' is not really a {ext[1:].upper()} file", fields={"file": "content does not match type"})
    return clean, ext, content_type


def check_files(ow: OneWindow, item_code: str, files: list[MaterialFile]) -> None:
    """Check every file of an application before anything is stored (names, types, sizes, materials)."""
    guide = service_guide(ow, item_code)
    names = {m["name"] for m in guide.get("materials", [])}
    if len(files) > MAX_FILES_PER_CASE:
        raise InvalidInput(f"at most {MAX_FILES_PER_CASE} files per case", fields={"file": "too many files"})
    for f in files:
        if f.material not in names:
            raise InvalidInput(f"'{f.material[:80]}' is not a material of this item", fields={"material": "unknown"})
        check_file(f.filename, f.data)


def attach_materials(ow: OneWindow, case_no: str, username: str, files: list[MaterialFile], folder: Path) -> int:
    """Store material files for a case (applicant, its proxy agent or a window clerk); returns how many."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        with writing(ow.db) as session:
            actor = resolve_actor(session, username)
            case = visible_case(session, actor, case_no)
            now = ow.clock.now()
            # The applicant, a window clerk, or the proxy agent under a valid mandate (recorded as acting for them).
            acting_for = acting_for_case(session, actor, case, local_day(now))
            version = session.get(ProcessVersion, case.process_version_id)
            names = {m["name"] for m in version.manifest.get("materials", [])}
            listed = []
            for f in files:
                if f.material not in names:
                    raise InvalidInput(f"'{f.material[:80]}' is not a material of this item", fields={"material": "unknown"})
                clean, ext, content_type = check_file(f.filename, f.data)
                stored = secrets.token_hex(16) + ext
                digest = hashlib.sha256(f.data).hexdigest()
                (folder / stored).write_bytes(f.data)
                written.append(folder / stored)
                session.add(Upload(case_id=case.id, material=f.material, filename=clean, stored_name=stored,
                                   content_type=content_type, size=len(f.data),
                                   sha256=digest, uploaded_by=username, at=now))
                # The digest in the hash-chained event makes a file replaced on disk afterwards detectable.
                listed.append({"material": f.material, "filename": clean, "size": len(f.data), "sha256": digest})
            append_event(session, case, "materials_attached", username, {"files": listed}, now,
                         case_state_hash(case), acting_for)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return len(files)


def read_upload(ow: OneWindow, case_no: str, upload_id: int, username: str, folder: Path) -> tuple[str, str, bytes]:
    """A stored material file of a case the actor may see: (file name, content type, bytes)."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        case = visible_case(session, actor, case_no)
        upload = session.get(Upload, upload_id)
        if upload is None or upload.case_id != case.id:
            raise NotFound(f"no file {upload_id} in case {case_no}")
        return upload.filename, upload.content_type, (Path(folder) / upload.stored_name).read_bytes()


def _case_by_code(session: Session, case_no: str, lookup_code: str) -> Case:
    case = session.scalar(select(Case).where(Case.case_no == (case_no or "").strip()[:64]))
    # Compared in constant time, and a wrong code reads exactly like an unknown number.
    if case is None or not hmac.compare_digest(case.lookup_code.encode(), (lookup_code or "").strip().encode()):
        raise NotFound("no case with that number and lookup code")
    return case


def track(ow: OneWindow, case_no: str, lookup_code: str, remote: str = "-") -> dict[str, Any]:
    """What an applicant sees with the case number and lookup code from the receipt, no account needed.

    Wrong codes count like failed sign-ins, so a six-digit code cannot be guessed by trying them all."""
    with writing(ow.db) as session:
        return _public_view(session, _guarded_case_by_code(session, case_no, lookup_code, remote, ow.clock.now()))


def _guarded_case_by_code(session: Session, case_no: str, lookup_code: str, remote: str, now: datetime) -> Case:
    """A case by number and lookup code, refused after repeated wrong codes for the number or from `remote`."""
    key = f"track:{(case_no or '').strip()[:56]}"
    refuse_when_hammered(session, key, remote, now)
    try:
        return _case_by_code(session, case_no, lookup_code)
    except NotFound:
        record_attempt(session, key, remote, False, now)
        # The failed attempt must stay on record although the lookup itself is refused.
        session.commit()
        raise


def my_cases(ow: OneWindow, username: str) -> list[dict[str, Any]]:
    """The cases an applicant filed or a proxy agent handles, newest first."""
    with reading(ow.db) as session:
        actor = resolve_actor(session, username)
        rows = session.scalars(select(Case).where((Case.applicant_user_id == actor.user_id)
                                                  | (Case.proxy_agent_id == actor.user_id))
                               .order_by(Case.received_at.desc(), Case.id.desc()).limit(200))
        names = _item_names(session)
        return [{"case_no": c.case_no, "lookup_code": c.lookup_code, "item_code": c.item_code,
                 "item_name": names.get(c.item_code, c.item_code), "applicant": c.applicant.get("name"),
                 "status": c.status, "result": c.result, "channel": c.channel,
                 "received_at": c.received_at.isoformat()} for c in rows]


NOTICE_KINDS = ("one_time_notice", "correction_notice", "special_procedure_notice", "extension_notice")


def applicant_case(ow: OneWindow, case_no: str, username: str) -> dict[str, Any]:
    """The applicant's (or their proxy agent's) view of a case with its notices, which are marked read."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        case = _own_case(session, actor, case_no)
        notices = session.scalars(select(Notification).where(Notification.case_id == case.id,
                                                             Notification.kind.in_(NOTICE_KINDS))
                                  .order_by(Notification.id)).all()
        now = ow.clock.now()
        for n in notices:
            if n.read_at is None and case.applicant_user_id == actor.user_id:
                n.read_at = now
        waiting = False
        for e in session.scalars(select(CaseEvent.type).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)):
            # A correction during review pauses the clocks without changing the status: follow the events.
            waiting = {"correction_requested": True, "correction_supplied": False, "correction_received": False,
                       "supplemented": False}.get(e, waiting)
        waiting = waiting or case.status == "CORRECTION_REQUESTED"
        listed = [n.body.get("missing") or [m["name"] for m in n.body.get("materials", [])] for n in notices]
        return {**_public_view(session, case), "lookup_code": case.lookup_code, "waiting_for_materials": waiting,
                "is_applicant": case.applicant_user_id == actor.user_id,
                "requested": listed[-1] if listed else [],
                "materials": session.get(ProcessVersion, case.process_version_id).manifest.get("materials", []),
                "notices": [{"kind": n.kind, "zh": n.body.get("zh", ""), "en": n.body.get("en", ""),
                             "missing": n.body.get("missing") or [m["name"] for m in n.body.get("materials", [])],
                             "at": n.created_at.isoformat(),
                             "respond_by": n.respond_by.isoformat() if n.respond_by else None} for n in notices]}


def public_case(ow: OneWindow, case_no: str, username: str) -> dict[str, Any]:
    """The applicant's (or their proxy agent's) view of a case without side effects: public events only."""
    with reading(ow.db) as session:
        return _public_view(session, _own_case(session, resolve_actor(session, username), case_no))


def _own_case(session: Session, actor: Actor, case_no: str) -> Case:
    """A case the actor filed or handles as proxy agent; any other reads as unknown."""
    case = visible_case(session, actor, case_no)
    if actor.user_id not in (case.applicant_user_id, case.proxy_agent_id):
        raise NotFound(f"no case {case_no}")
    return case


def _item_names(session: Session) -> dict[str, str]:
    return {code: manifest["name"] for code, manifest in session.execute(
        select(ProcessVersion.item_code, ProcessVersion.manifest).order_by(ProcessVersion.version))}


def _public_view(session: Session, case: Case) -> dict[str, Any]:
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    rating = session.scalar(select(Rating).where(Rating.case_id == case.id))
    manifest = session.get(ProcessVersion, case.process_version_id).manifest
    steps = dict(session.execute(select(WorkItem.bpmn_id, WorkItem.name).where(WorkItem.case_id == case.id)).all())
    return {"case_no": case.case_no, "item_code": case.item_code, "item_name": manifest["name"],
            "item_name_en": manifest["name_en"], "status": case.status, "result": case.result,
            "applicant": case.applicant.get("name"), "received_at": case.received_at.isoformat(),
            "accepted_at": case.accepted_at.isoformat() if case.accepted_at else None,
            "concluded_at": case.concluded_at.isoformat() if case.concluded_at else None,
            "events": [{"type": e.type, "at": e.at.isoformat(), "step": steps.get(e.payload.get("bpmn_id"))}
                       for e in events if e.type in PUBLIC_EVENTS],
            "rating": rating.level if rating else None,
            "may_rate": rating is None and case.status in RATEABLE,
            # A refusal at intake: the reason, legal basis and remedy the applicant was given (None otherwise).
            "refusal": refusal_notice(session, case)}


def _authorised_case(session: Session, case_no: str, lookup_code: str | None, actor: Actor | None, remote: str,
                     now: datetime) -> tuple[Case, str | None]:
    """A case reached by its lookup code (guarded like tracking), or one the signed-in applicant filed or their
    mandated proxy agent handles; with whom the actor acts for."""
    if lookup_code:
        return _guarded_case_by_code(session, case_no, lookup_code, remote, now), None
    if actor is None:
        raise NotFound("no case with that number and lookup code")
    case = visible_case(session, actor, case_no)
    if case.applicant_user_id != actor.user_id and case.proxy_agent_id != actor.user_id:
        raise Forbidden("only the applicant may rate or complain about a case")
    return case, acting_for_case(session, actor, case, local_day(now))


def rate(ow: OneWindow, case_no: str, level: int, comment: str = "", lookup_code: str | None = None,
         username: str | None = None, remote: str = "-") -> dict[str, Any]:
    """Rate a concluded case once, five levels (好差评); levels 1–2 are bad reviews the centre must follow up."""
    try:
        level = int(level)
    except (TypeError, ValueError):
        level = 0
    if level not in RATING_LEVELS:
        raise InvalidInput("a rating is a level from 1 (very dissatisfied) to 5 (very satisfied)",
                           fields={"level": "1–5"})
    comment = (comment or "").strip()
    if len(comment) > 1000:
        raise InvalidInput("the comment is longer than 1000 characters", fields={"comment": "at most 1000 characters"})
    with writing(ow.db) as session:
        now = ow.clock.now()
        actor = resolve_actor(session, username) if username else None
        case, acting_for = _authorised_case(session, case_no, lookup_code, actor, remote, now)
        if case.status not in RATEABLE:
            raise Conflict(f"case {case.case_no} is {case.status}: it can be rated once it is concluded")
        if session.scalar(select(Rating.id).where(Rating.case_id == case.id)) is not None:
            raise Conflict(f"case {case.case_no} has already been rated")
        who = username or "applicant"
        session.add(Rating(case_id=case.id, level=level, comment=comment, rated_by=who, at=now))
        append_event(session, case, "rated", who,
                     {"level": level, "label": RATING_LEVELS[level], "bad_review": level <= 2, "comment": comment},
                     now, case_state_hash(case), acting_for)
        return {"case_no": case.case_no, "level": level, "label": RATING_LEVELS[level]}


def complain(ow: OneWindow, case_no: str, text: str, contact: str = "", lookup_code: str | None = None,
             username: str | None = None, remote: str = "-") -> dict[str, Any]:
    """File an efficiency complaint (效能投诉) about a case; it starts as `received`."""
    text, contact = (text or "").strip(), (contact or "").strip()
    errors = {}
    if not 5 <= len(text) <= 2000:
        errors["text"] = "5–2000 characters"
    if len(contact) > 100:
        errors["contact"] = "at most 100 characters"
    if errors:
        raise InvalidInput("the complaint is not complete", fields=errors)
    with writing(ow.db) as session:
        now = ow.clock.now()
        actor = resolve_actor(session, username) if username else None
        case, acting_for = _authorised_case(session, case_no, lookup_code, actor, remote, now)
        who = username or "applicant"
        complaint = Complaint(case_id=case.id, text=text, contact=contact, status="received", filed_by=who, at=now)
        session.add(complaint)
        session.flush()
        append_event(session, case, "complained", who, {"complaint_id": complaint.id, "text": text}, now,
                     case_state_hash(case), acting_for)
        return {"case_no": case.case_no, "complaint_id": complaint.id, "status": "received"}

