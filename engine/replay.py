"""Re-execution of a case's event log against its pinned process version, event by event.

The replay starts from nothing, feeds each recorded event's payload to the same engine calls the use cases
made, and after every event compares the normalised state hash (engine.runtime.state_hash) with the one the
event recorded. Events that do not step the engine (claims, notifications, ladder stages, ratings …) have no
re-executor: they must leave the state hash unchanged, and one that changed it is reported as an event type
the replay cannot re-execute — never silently passed.

How the as-of view gets the state after event N — re-execution, not a snapshot per event: a snapshot per event
costs the whole state JSON (3–45 KB, growing with the task tree) for every event of every case (bench/audit.py:
two orders of magnitude more than the history itself) and would itself have to be trusted. Re-executing the whole
log is exact by construction but costs ~1–3 ms per event on a large tree, too slow for a 200-event case. So the
use case that records state changes also keeps the saved state after every 20th event (a checkpoint, ~5 % of
the snapshot cost); the view starts from the nearest checkpoint at or before N whose hash equals the state hash
its hash-chained event recorded (a tampered checkpoint is ignored, never trusted) and re-executes the rest.
`audit verify` always re-executes from the first event.

Each event is re-executed in the EngineEnvironment the use case stepped the engine in (engine.runtime): task ids
from the case number and sequence, state-change times from the event's time. A case opened since environments
exist (its application event records `environment`) must therefore re-execute to exactly its stored state.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task

from engine.clock.timers import arm_timers, waiting_timers
from engine.forms import FormRegistry
from engine.runtime import (
    ENGINE_JSON,
    EngineEnvironment,
    SpecBundle,
    complete_task,
    dump_state,
    engine_environment,
    load_state,
    ready_user_tasks,
    start_workflow,
    state_hash,
    task_id_order,
)


class RecordedEvent(Protocol):
    """What the replay reads from a stored event (a CaseEvent row fits)."""

    seq: int
    type: str
    actor: str
    acting_for: str | None
    payload: dict
    at: datetime
    state_hash: str


class ReplayError(Exception):
    """An event that cannot be re-executed as recorded (the report names the case and sequence)."""


@dataclass
class Divergence:
    """One event whose re-execution does not reproduce what was recorded."""

    seq: int
    type: str
    problem: str

# Status an event type leaves the case in when its payload does not say (payload["status"] wins).
STATUS_AFTER = {"applied": "RECEIVED", "withdrawn": "WITHDRAWN"}
CARD_OF_EVENT = {"warning_issued": "warning", "yellow_card_issued": "yellow", "red_card_issued": "red"}


@dataclass
class CaseFacts:
    """What the events say about the case beyond the engine state: status, holders of tasks, ladder stages."""

    status: str | None = None
    result: str | None = None
    assignees: dict[str, str] = field(default_factory=dict)
    cards: list[dict[str, Any]] = field(default_factory=list)
    # Status before a special procedure, restored when it ends (the clock's resume event does not repeat it).
    paused_from: str | None = None

    def observe(self, event: RecordedEvent) -> None:
        """Fold one event into the facts."""
        payload = event.payload or {}
        if "status" in payload:
            self.status = payload["status"]
        elif event.type in STATUS_AFTER:
            self.status = STATUS_AFTER[event.type]
        elif event.type == "claimed" and self.status == "ACCEPTED":
            self.status = "IN_REVIEW"
        elif event.type == "clock_paused" and payload.get("kind") == "special_procedure":
            self.paused_from, self.status = self.status, "SUSPENDED"
        elif event.type == "clock_resumed" and self.status == "SUSPENDED":
            self.status, self.paused_from = self.paused_from, None
        if self.status in ("WITHDRAWN", "TERMINATED"):
            self.result = self.status.lower()
        if event.type in CARD_OF_EVENT:
            self.cards.append({"seq": event.seq, "card": CARD_OF_EVENT[event.type], "at": event.at.isoformat(),
                               "deadline_id": payload.get("deadline_id"), "clock": payload.get("clock"),
                               "bpmn_id": payload.get("bpmn_id"), "due_at": payload.get("due_at")})
        if event.type == "claimed" and payload.get("task_id"):
            self.assignees[payload["task_id"]] = event.actor
        elif event.type == "reassigned" and payload.get("task_id"):
            self.assignees[payload["task_id"]] = payload["to"]
        elif event.type == "unclaimed":
            self.assignees.pop(payload.get("task_id", ""), None)


@dataclass
class Replay:
    """A case being rebuilt from its events; `workflow` is the engine state after the last applied event."""

    bundle: SpecBundle
    forms: FormRegistry
    case_no: str
    # How the running system wrote and hashed this case's state (engine.runtime; see recorded_state_format).
    state_format: int
    workflow: BpmnWorkflow | None = None
    # Task ids are random per run: recorded ids map to the replay's own ids as events name them.
    task_ids: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    at: datetime | None = None
    last_hash: str | None = None
    facts: CaseFacts = field(default_factory=CaseFacts)

    def apply(self, event: RecordedEvent, check: bool = True) -> Divergence | None:
        """Re-execute one event; with `check`, compare the resulting state hash with the recorded one."""
        reexecute = REEXECUTORS.get(event.type)
        self.seq, self.at = event.seq, event.at
        self.facts.observe(event)
        if event.type in ("claimed", "unclaimed", "reassigned") and self.workflow is not None and "task_id" in event.payload:
            self.note_task(event.payload["task_id"], event.payload.get("bpmn_id", ""))
        if reexecute is None:
            # No engine step: the recorded state must be the one before it.
            changed = self.last_hash is not None and event.state_hash != self.last_hash
            self.last_hash = event.state_hash
            if changed:
                return Divergence(event.seq, event.type, f"cannot re-execute event type {event.type} at seq "
                                  f"{event.seq}: it changed the workflow state")
            return None
        try:
            with self.stepping():
                reexecute(self, event)
            # The use cases take waiting timers off the wall clock before saving; so does the replay.
            arm_timers(self.require_workflow())
        except ReplayError as exc:
            self.last_hash = event.state_hash
            return Divergence(event.seq, event.type, str(exc))
        except Exception as exc:  # the engine refused the recorded input: the log is not what ran
            self.last_hash = event.state_hash
            return Divergence(event.seq, event.type, f"the engine refused the recorded event: {exc}")
        if not check:
            self.last_hash = event.state_hash
            return None
        actual = self.current_hash()
        self.last_hash = event.state_hash
        if actual != event.state_hash:
            return Divergence(event.seq, event.type, "re-execution does not reproduce the recorded state hash")
        return None

    def stepping(self) -> AbstractContextManager[EngineEnvironment]:
        """The environment the running system stepped the engine in for the event being re-executed."""
        return engine_environment(self.case_no, self.seq, self.at, self.workflow)

    def current_hash(self) -> str | None:
        """The normalised hash of the replayed state (None before the application)."""
        return self.hash_of(dump_state(self.workflow, self.state_format)) if self.workflow is not None else None

    def hash_of(self, state_json: str) -> str:
        """The hash of a state of this case written in its state format."""
        return state_hash(state_json, self.state_format)

    def note_task(self, recorded_id: str, bpmn_id: str) -> None:
        """Map a recorded task id named by a claim to the replay's task, when only one instance could be meant."""
        if self.known_id(recorded_id) is None:
            candidates = self._candidates(bpmn_id)
            if len(candidates) == 1:
                self.task_ids[recorded_id] = str(candidates[0].id)

    def recorded_id(self, task: Task) -> str | None:
        """The id the running system gave a replayed task, once an event has named it."""
        wanted = str(task.id)
        return next((rec for rec, mine in self.task_ids.items() if mine == wanted), None)

    def start_from(self, state_json: str, seq: int) -> None:
        """Continue from a state the running system saved after event `seq` (a checkpoint): its ids are the recorded ones."""
        self.workflow = load_state(self.bundle, state_json, self.state_format)
        self.seq, self.last_hash = seq, self.hash_of(state_json)

    def task(self, recorded_id: str, bpmn_id: str, expected_hash: str, run: Callable[[BpmnWorkflow, Task], None]) -> None:
        """Run `run` on the replay's task matching a recorded task id, resolving it by BPMN id on first use."""
        wf = self.require_workflow()
        known = self.known_id(recorded_id)
        if known is not None:
            run(wf, self._ready(wf, known, recorded_id))
            return
        candidates = self._candidates(bpmn_id)
        if not candidates:
            raise ReplayError(f"no waiting task '{bpmn_id}' to re-execute task {recorded_id} on")
        if len(candidates) > 1:
            # Instances of one element (multi-instance, parallel branches) are told apart by outcome: the
            # right one is the candidate whose run reproduces the recorded hash (hashes are id-agnostic).
            candidates = [c for c in candidates if self._trial_hash(c, run) == expected_hash] or candidates[:1]
        self.task_ids[recorded_id] = str(candidates[0].id)
        run(wf, candidates[0])

    def known_id(self, recorded_id: str) -> str | None:
        """The replay's id for a recorded task id (a replay started from a checkpoint holds the recorded ids)."""
        mapped = self.task_ids.get(recorded_id)
        return mapped or (recorded_id if _has_task(self.require_workflow(), recorded_id) else None)

    def _candidates(self, bpmn_id: str) -> list[Task]:
        mapped = set(self.task_ids.values())
        return [t for t in ready_user_tasks(self.require_workflow())
                if t.task_spec.bpmn_id == bpmn_id and str(t.id) not in mapped]

    def _trial_hash(self, candidate: Task, run: Callable[[BpmnWorkflow, Task], None]) -> str:
        # A trial runs in an environment of its own, so the real run still gets the ids and times the event got.
        with self.stepping():
            trial = load_state(self.bundle, dump_state(self.require_workflow(), self.state_format), self.state_format)
            run(trial, trial.get_task_from_id(candidate.id))
        return self.hash_of(dump_state(trial, self.state_format))

    def require_workflow(self) -> BpmnWorkflow:
        """The replayed workflow, or ReplayError when the history has not started it."""
        if self.workflow is None:
            raise ReplayError("the history does not begin with the application")
        return self.workflow

    @staticmethod
    def _ready(wf: BpmnWorkflow, task_id: str, recorded_id: str) -> Task:
        task = wf.get_task_from_id(UUID(task_id))
        if task is None or task.state != TaskState.READY:
            raise ReplayError(f"task {recorded_id} is not waiting at this point of the history")
        return task

    def form_values(self, task: Task, data: dict[str, Any]) -> dict[str, Any]:
        """What complete_case_task hands the engine: every declared field of the form, absent ones as None."""
        # Imported here: engine.services imports this module for `audit verify`.
        from engine.services.casework import task_meta

        form_key = task_meta(task)["form_key"]
        declared = self.forms.schema(form_key).get("properties", {}) if form_key else {}
        return {name: data.get(name) for name in declared}


def _has_task(wf: BpmnWorkflow, task_id: str) -> bool:
    try:
        return wf.get_task_from_id(UUID(task_id)) is not None
    except Exception:  # not a UUID, or not in this tree (TaskNotFoundException)
        return False


def _applied(replay: Replay, event: RecordedEvent) -> None:
    if replay.workflow is not None:
        raise ReplayError("a second application event in one case")
    replay.workflow = start_workflow(replay.bundle, {**event.payload.get("data", {}),
                                                     "item_code": event.payload.get("item_code")})


def _task_completed(replay: Replay, event: RecordedEvent) -> None:
    payload = event.payload
    if "task_id" not in payload or "bpmn_id" not in payload:
        raise ReplayError("the event does not name the task it completed")

    def run(wf: BpmnWorkflow, task: Task) -> None:
        complete_task(wf, task, replay.form_values(task, payload.get("data", {})))

    replay.task(payload["task_id"], payload["bpmn_id"], event.state_hash, run)


def _deemed_accepted(replay: Replay, event: RecordedEvent) -> None:
    # The clock completes the intake task with exactly the cleaned data it records (no declared-field reset).
    payload = event.payload
    if "task_id" not in payload or "bpmn_id" not in payload:
        raise ReplayError("the event does not name the intake task it completed")

    def run(wf: BpmnWorkflow, task: Task) -> None:
        complete_task(wf, task, payload.get("data", {}))

    replay.task(payload["task_id"], payload["bpmn_id"], event.state_hash, run)


def _withdrawn(replay: Replay, event: RecordedEvent) -> None:
    replay.require_workflow().cancel()


def _timer_fired(replay: Replay, event: RecordedEvent) -> None:
    payload = event.payload
    wf = replay.require_workflow()
    known = replay.known_id(payload.get("task_id", ""))
    waiting = [t for t in waiting_timers(wf)
               if (str(t.id) == known if known else t.task_spec.bpmn_id == payload.get("bpmn_id"))]
    if len(waiting) != 1:
        raise ReplayError(f"{len(waiting)} waiting timers '{payload.get('bpmn_id')}' where the event fired one")
    task = waiting[0]
    replay.task_ids[payload.get("task_id", "")] = str(task.id)
    wf.catch(BpmnEvent(task.task_spec.event_definition, target=task.workflow))
    wf.do_engine_steps()


# Event types that step the engine, and how. Every other type must leave the state hash unchanged.
REEXECUTORS: dict[str, Callable[[Replay, RecordedEvent], None]] = {
    "applied": _applied,
    "accepted": _task_completed,
    "rejected_at_intake": _task_completed,
    "task_completed": _task_completed,
    "withdrawn": _withdrawn,
    "withdrawn_for_no_correction": _withdrawn,
    "terminated": _withdrawn,
    "deemed_accepted": _deemed_accepted,
    "deemed_approved": _timer_fired,
    "deemed_renewed": _timer_fired,
    "timer_fired": _timer_fired,
}


def recorded_state_format(events: Sequence[RecordedEvent]) -> int:
    """The state format a case's application event says its state is written in (ENGINE_JSON before formats)."""
    if events and events[0].type == "applied":
        return (events[0].payload or {}).get("state_format", ENGINE_JSON)
    return ENGINE_JSON


def recorded_task_ids(replay: Replay, recorded_state: str, replayed_state: str) -> dict[str, str]:
    """Replayed task id → the id the running system gave it; empty unless the two states hash equal."""
    if replay.hash_of(recorded_state) != replay.hash_of(replayed_state):
        return {}
    return dict(zip(task_id_order(replayed_state), task_id_order(recorded_state), strict=True))


def replay_events(bundle: SpecBundle, forms: FormRegistry, case_no: str, events: Sequence[RecordedEvent],
                  check_each: bool = True) -> tuple[Replay, list[Divergence]]:
    """Re-execute `events` in order; returns the replay and every divergence (checked after each event or only the last)."""
    replay = Replay(bundle, forms, case_no, recorded_state_format(events))
    divergences: list[Divergence] = []
    for index, event in enumerate(events):
        last = index == len(events) - 1
        found = replay.apply(event, check=check_each or last)
        if found is not None:
            divergences.append(found)
    return replay, divergences
