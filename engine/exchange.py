"""Data exchange: a case's history as the national construction-approval status codes (DOMAIN.md §4).

1 received · 2 retracted (withdrawn before acceptance) · 3 accepted · 4 not accepted (refused at intake) ·
5 not accepted (the correction period expired) · 6/7 correction start/end · 8 department starts (the first
department step after acceptance) · 9/10 special procedure start/end · 11 approved · 12 approved with
deficiency (accepted with deficiency, 容缺) · 13 refused · 14 withdrawn (after acceptance) · 15 revoked.
Events without a national meaning (claims, notifications, ratings …) produce no code.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

STATUS_NAMES = {
    1: "received", 2: "retracted", 3: "accepted", 4: "not accepted", 5: "not accepted (correction expired)",
    6: "correction started", 7: "correction ended", 8: "department started", 9: "special procedure started",
    10: "special procedure ended", 11: "approved", 12: "approved with deficiency", 13: "refused",
    14: "withdrawn", 15: "revoked",
}
_DIRECT = {"applied": 1, "accepted": 3, "deemed_accepted": 3, "rejected_at_intake": 4, "revoked": 15}
_DEPARTMENT_STEPS = {"claimed", "reassigned", "task_completed"}


@dataclass(frozen=True)
class ExchangeEvent:
    """The parts of a case event the status mapping reads."""

    seq: int
    type: str
    at: datetime
    payload: dict[str, Any]


def status_codes(events: Iterable[ExchangeEvent], result: str | None) -> list[dict[str, Any]]:
    """The national status codes a case passed through, in order, each with the event that caused it."""
    out: list[dict[str, Any]] = []
    accepted = started = deficiency = decided = correcting = False

    def emit(code: int, event: ExchangeEvent) -> None:
        out.append({"code": code, "name": STATUS_NAMES[code], "seq": event.seq, "at": event.at.isoformat()})

    for event in events:
        payload = event.payload or {}
        kind = event.type
        if kind in _DIRECT:
            emit(_DIRECT[kind], event)
            accepted = accepted or _DIRECT[kind] == 3
        elif kind == "accepted_with_deficiency":
            deficiency = True
        elif kind in ("withdrawn", "terminated"):
            # A case ended without a decision: retracted before acceptance, withdrawn (terminated) after it.
            emit(14 if accepted else 2, event)
        elif kind == "withdrawn_for_no_correction":
            emit(14 if accepted else 5, event)
        elif kind == "correction_requested":
            correcting = True
            emit(6, event)
        elif kind in ("correction_received", "supplemented") and correcting:
            # A partial supplement leaves the case waiting for the rest: the correction ends with the last material.
            if payload.get("outstanding"):
                continue
            correcting = False
            emit(7, event)
        elif kind in ("clock_paused", "clock_resumed") and payload.get("kind") == "special_procedure":
            emit(9 if kind == "clock_paused" else 10, event)
        if accepted and not started and kind in _DEPARTMENT_STEPS and payload.get("bpmn_id"):
            started = True
            emit(8, event)
        if payload.get("status") == "REVOKED" and kind != "revoked":
            # A BPMN end event with outcome `revoked` arrives as the completion that reached it.
            emit(15, event)
        if not decided and payload.get("status") == "DECIDED" and result in ("approved", "refused"):
            decided = True
            emit(13 if result == "refused" else 12 if deficiency else 11, event)
    return out
