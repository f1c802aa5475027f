"""The stages of an efficiency complaint (效能投诉, GB/T 36113-2018) and the stage a case's events give it.

Kept apart from the handling use case so that `audit verify` can read a complaint's stage off the history
without importing the use cases (which themselves import the audit module).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

# In order: filing makes a complaint `received` (the portal's `complained` event); each later stage is one
# `complaint_<stage>` event by a supervisor.
STAGES = ("received", "investigated", "resolved", "answered", "archived")
EVENT_PREFIX = "complaint_"
# Answering closes the reply clock; archiving comes after it.
REPLIED = frozenset({"answered", "archived"})


class StageEvent(Protocol):
    """What the stage reading needs of an event (a CaseEvent row fits)."""

    seq: int
    type: str
    payload: dict


def next_stage(stage: str) -> str | None:
    """The stage that follows `stage`, or None once archived."""
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


def event_type(stage: str) -> str:
    """The case event type that records a complaint reaching `stage`."""
    return f"{EVENT_PREFIX}{stage}"


def stage_from_events(events: Iterable[StageEvent], complaint_id: int) -> tuple[str, int | None]:
    """The stage the history leaves a complaint in, with the sequence number of the event that set it."""
    stage, seq = "received", None
    for e in events:
        if e.type.startswith(EVENT_PREFIX) and (e.payload or {}).get("complaint_id") == complaint_id:
            stage, seq = (e.payload or {}).get("to", stage), e.seq
    return stage, seq
