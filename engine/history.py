"""Append-only, hash-chained case history: every mutation of a case is one event row."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from engine.runtime import state_hash as hash_of_state
from engine.store.models import Case, CaseCheckpoint, CaseEvent
from engine.store.prepared import Prepared

GENESIS = "0" * 64
# A checkpoint per 20 events costs about 5 % of what a snapshot per event would, and bounds the as-of view's
# re-execution to the events since the nearest one (bench/audit.py measures both).
CHECKPOINT_EVERY = 20


def event_hash(case_no: str, seq: int, type_: str, actor: str, acting_for: str | None, payload: dict,
               at: datetime, state_hash: str, prev_hash: str) -> str:
    """Hash one event's content together with its predecessor's hash."""
    body = json.dumps(
        [case_no, seq, type_, actor, acting_for, payload, at.isoformat(), state_hash, prev_hash],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


# An event is written once and never read back in the same transaction, so the ORM's unit of work (a third of a
# completion's time) buys nothing here: a prepared statement (engine/store/prepared.py) writes it.
_INSERT_EVENT = Prepared(insert(CaseEvent.__table__))
_INSERT_CHECKPOINT = insert(CaseCheckpoint.__table__)


def append_event(session: Session, case: Case, type_: str, actor: str, payload: dict[str, Any], at: datetime,
                 state_hash: str, acting_for: str | None = None) -> None:
    """Add the next event of a case (same transaction as the mutation it records)."""
    if case.id is None:
        session.flush([case])
    seq = case.last_seq + 1
    prev = case.last_hash or GENESIS
    digest = event_hash(case.case_no, seq, type_, actor, acting_for, payload, at, state_hash, prev)
    _INSERT_EVENT.run(session, {"case_id": case.id, "seq": seq, "type": type_, "actor": actor,
                                "acting_for": acting_for, "payload": payload, "at": at,
                                "state_hash": state_hash, "prev_hash": prev, "hash": digest})
    case.last_seq = seq
    case.last_hash = digest
    # Checkpoint here, whatever the event: a claim or a clock note can be the 20th event as well as a completion.
    # The saved state must be the one this event hashed (a caller may still change the state afterwards).
    if seq % CHECKPOINT_EVERY == 0 and case.state_json and case_state_hash(case) == state_hash:
        session.connection().execute(_INSERT_CHECKPOINT,
                                     {"case_id": case.id, "seq": seq, "state_json": case.state_json})


def case_state_hash(case: Case) -> str:
    """The hash of the case's current workflow state (what an event that does not step the engine records)."""
    return hash_of_state(case.state_json, case.state_format)


@dataclass
class ChainProblem:
    """One place where a case's stored history does not verify."""

    case_no: str
    seq: int | None
    problem: str


def verify_chain(session: Session, case: Case) -> list[ChainProblem]:
    """Recompute a case's hash chain; report edited, missing, inserted or reordered rows."""
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).all()
    problems: list[ChainProblem] = []
    prev = GENESIS
    for expected_seq, ev in enumerate(events, start=1):
        if ev.seq != expected_seq:
            problems.append(ChainProblem(case.case_no, ev.seq, f"sequence gap: expected {expected_seq}"))
        if ev.prev_hash != prev:
            problems.append(ChainProblem(case.case_no, ev.seq, "prev_hash does not match the previous event"))
        digest = event_hash(case.case_no, ev.seq, ev.type, ev.actor, ev.acting_for, ev.payload, ev.at,
                            ev.state_hash, ev.prev_hash)
        if digest != ev.hash:
            problems.append(ChainProblem(case.case_no, ev.seq, "content does not match its hash (edited)"))
        prev = ev.hash
    if events and (case.last_hash != prev or case.last_seq != events[-1].seq):
        problems.append(ChainProblem(case.case_no, None, "case head does not match the last event (rows deleted)"))
    if not events and case.last_seq:
        problems.append(ChainProblem(case.case_no, None, "history is empty but the case records events"))
    return problems

