"""Workflow runtime: create, load, step and save SpiffWorkflow instances; specs are parsed and cached once."""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import SpiffWorkflow.task as spiff_task
from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.version import __version__ as SPIFFWORKFLOW_VERSION  # noqa: F401 (recorded per process version)

from engine.errors import Conflict, NotFound
from engine.expressions import SafeScriptEngine


class SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """Serialises a workflow without its spec: the spec lives once in process_version, not in every case."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict:
        """Return the workflow state without `spec` and `subprocess_specs`."""
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict, spec: BpmnProcessSpec | None = None,
                  subprocess_specs: dict | None = None) -> BpmnWorkflow:
        """Restore a workflow around already-built spec objects."""
        # Spec objects are not dicts, so the base converter's restore hands them back unchanged.
        dct["spec"] = spec
        dct["subprocess_specs"] = subprocess_specs or {}
        return super().from_dict(dct)


_SPEC_CONFIG = dict(SPIFF_CONFIG)
_STATE_CONFIG = {**SPIFF_CONFIG, BpmnWorkflow: SpecFreeWorkflowConverter}
SPEC_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_SPEC_CONFIG))
STATE_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_STATE_CONFIG))
SERIALIZER_VERSION = STATE_SERIALIZER.VERSION
SCRIPT_ENGINE = SafeScriptEngine()

_UUID_RE = re.compile(r'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"')
_TIMESTAMP_RE = re.compile(r'"last_state_change": [0-9.e+-]+')


@dataclass
class EngineEnvironment:
    """Where the engine takes new task ids and state-change times from while it runs one event of a case.

    Ids derive from the case number, the event's sequence number and a counter; times start at the event's time
    (or just after the newest time already in the state) and rise by a microsecond per reading. A re-execution of
    the event under the same environment therefore builds exactly the state the running system saved.
    """

    seed: str
    start: float
    ids_issued: int = 0
    stamps_issued: int = 0

    def task_id(self) -> UUID:
        """The next task id of this event."""
        self.ids_issued += 1
        digest = hashlib.sha256(f"{self.seed}/{self.ids_issued}".encode()).digest()
        return UUID(bytes=digest[:16], version=4)

    def stamp(self) -> float:
        """The next state-change time of this event (strictly rising, so joins still see completion order)."""
        self.stamps_issued += 1
        return self.start + self.stamps_issued * 1e-6


# Recorded in each new case's application event: its task ids and times come from an EngineEnvironment, so a
# re-execution must reproduce its stored state exactly (cases from before this carry random ids).
ENVIRONMENT_VERSION = 1
_ENVIRONMENT: ContextVar[EngineEnvironment | None] = ContextVar("engine_environment", default=None)


@contextmanager
def engine_environment(case_no: str, seq: int, at: datetime,
                       wf: BpmnWorkflow | None = None) -> Iterator[EngineEnvironment]:
    """Run engine steps as event `seq` of case `case_no` at time `at` (`wf`: the workflow they continue)."""
    newest = max((t.last_state_change for t in all_tasks(wf)), default=0.0) if wf is not None else 0.0
    token = _ENVIRONMENT.set(EngineEnvironment(f"{case_no}/{seq}", max(at.timestamp(), newest)))
    try:
        yield _ENVIRONMENT.get()
    finally:
        _ENVIRONMENT.reset(token)


def _task_id() -> UUID:
    env = _ENVIRONMENT.get()
    return uuid4() if env is None else env.task_id()


class _EngineTime:
    """Stands in for the `time` module inside SpiffWorkflow.task, which reads the wall clock for state changes."""

    @staticmethod
    def time() -> float:
        """The environment's next stamp, or the wall clock outside any case event (designer tools, tests)."""
        env = _ENVIRONMENT.get()
        return time.time() if env is None else env.stamp()


# SpiffWorkflow has no hook for either: its Task takes ids from uuid4 and times from time.time by module name.
spiff_task.uuid4 = _task_id
spiff_task.time = _EngineTime

# SpiffWorkflow logs every task state change at INFO and, while its loggers' own level is unset, gathers each
# record's task data and the workflow's whole task list for it even when nothing is logged (7 % of the engine's
# time on the benchmark's process). OneWindow's record of what happened is the case history, so those loggers
# start at WARNING; a level set before this import (logging configuration) is kept.
for _name in ("spiff.task", "spiff.workflow"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)


CLOCK_STEP_PROPERTIES = frozenset({"special", "statutory_limit"})


@dataclass
class SpecBundle:
    """The parsed spec of one process version, ready to run cases."""

    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    # Steps that act on the case clocks while they wait: `special` (a special procedure, 特别程序: the clocks pause)
    # and `statutory_limit` (the step sets the case's statutory limit, e.g. an on-site review's 45 days).
    clock_steps: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        specs = [self.spec, *self.subprocess_specs.values()]
        self.clock_steps = frozenset(
            task_spec.bpmn_id for spec in specs for task_spec in spec.task_specs.values()
            if CLOCK_STEP_PROPERTIES & ((getattr(task_spec, "extensions", None) or {}).get("properties") or {}).keys())


def spec_to_json(spec: BpmnProcessSpec, subprocess_specs: dict[str, BpmnProcessSpec]) -> str:
    """Serialise a spec and its subprocess specs for storage in process_version."""
    registry = SPEC_SERIALIZER.registry
    return json.dumps({
        "spec": registry.convert(spec),
        "subprocess_specs": {name: registry.convert(s) for name, s in subprocess_specs.items()},
    })


def spec_from_json(spec_json: str) -> SpecBundle:
    """Rebuild spec objects from their stored JSON."""
    dct = json.loads(spec_json)
    registry = SPEC_SERIALIZER.registry
    return SpecBundle(
        registry.restore(dct["spec"]),
        {name: registry.restore(s) for name, s in dct["subprocess_specs"].items()},
    )


class SpecCache:
    """A bounded cache of rebuilt specs keyed by process_version id (specs are immutable once deployed)."""

    def __init__(self, size: int = 128):
        self._items: OrderedDict[int, SpecBundle] = OrderedDict()
        self._size = size

    def get(self, version_id: int, spec_json_loader) -> SpecBundle:
        """Return the cached bundle, building it with `spec_json_loader()` on a miss."""
        bundle = self._items.get(version_id)
        if bundle is None:
            bundle = spec_from_json(spec_json_loader())
            self._items[version_id] = bundle
            if len(self._items) > self._size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(version_id)
        return bundle


class LiveWorkflows:
    """Workflows of recently changed cases kept alive, each valid only for the exact state it was saved as.

    Rebuilding a workflow from its JSON cost a quarter of a completion (bench/throughput.py went from 70/s to 98/s
    without it), and a case is usually changed again soon (its next approval step). An entry leaves the cache while a change runs, so a change that fails never
    leaves a half-stepped workflow behind; it goes back only once that change's transaction has committed.
    """

    def __init__(self, size: int = 256):
        self._items: OrderedDict[int, tuple[str, SpecBundle, BpmnWorkflow]] = OrderedDict()
        self._size = size
        # The web server's threads share one cache; a put racing a take must not fail a committed change.
        self._lock = threading.Lock()

    def take(self, case_id: int, bundle: SpecBundle, state_json: str) -> BpmnWorkflow | None:
        """Remove and return the live workflow of a case if it is exactly the stored state on the same spec."""
        with self._lock:
            entry = self._items.pop(case_id, None)
        if entry is None or entry[1] is not bundle or entry[0] != state_json:
            return None
        return entry[2]

    def put(self, case_id: int, bundle: SpecBundle, state_json: str, wf: BpmnWorkflow) -> None:
        """Keep a workflow whose committed state is `state_json` (the oldest entry goes when full)."""
        with self._lock:
            self._items[case_id] = (state_json, bundle, wf)
            self._items.move_to_end(case_id)
            if len(self._items) > self._size:
                self._items.popitem(last=False)


def start_workflow(bundle: SpecBundle, data: dict[str, Any]) -> BpmnWorkflow:
    """Create a workflow, seed the start task's data and run engine steps to the first wait."""
    wf = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=SCRIPT_ENGINE)
    start = wf.get_next_task(state=TaskState.READY)
    if start is not None:
        start.set_data(**data)
    wf.do_engine_steps()
    return wf


# How a case's workflow state is written and hashed (case.state_format; a case keeps the format it started in).
# ENGINE_JSON is SpiffWorkflow's own JSON. Its key order follows the engine's history: a task's data is stored as
# changes from its parent's, and a workflow rebuilt from JSON merges them in another order than the one that
# stepped on. So equal states can be unequal text, and the hash normalises first (state_hash), a tenth of a change.
ENGINE_JSON = 1
# CANONICAL_JSON writes keys sorted and compact, so equal states are equal text and the text is hashed as stored.
# Each workflow's tasks become a list in the engine's order: sorted as a mapping (by id) they would put children
# before parents, and SpiffWorkflow rebuilds a task's data from its parent's, which must already be there.
CANONICAL_JSON = 2
_STATE_ENCODER = create_encoder(STATE_SERIALIZER.registry)


def dump_state(wf: BpmnWorkflow, state_format: int) -> str:
    """Serialise the workflow state (without spec) to JSON in `state_format`."""
    if state_format == ENGINE_JSON:
        return STATE_SERIALIZER.serialize_json(wf)
    dct = STATE_SERIALIZER.to_dict(wf)
    dct[STATE_SERIALIZER.VERSION_KEY] = STATE_SERIALIZER.VERSION
    for workflow in (dct, *dct["subprocesses"].values()):
        workflow["tasks"] = list(workflow["tasks"].values())
        for task in workflow["tasks"]:
            # The keys a task's data dropped from its parent's, listed in the parent's key order: a set, really.
            if task.get("delta"):
                task["delta"]["deletions"] = sorted(task["delta"]["deletions"])
    return json.dumps(dct, cls=_STATE_ENCODER, sort_keys=True, separators=(",", ":"))


def load_state(bundle: SpecBundle, state_json: str, state_format: int) -> BpmnWorkflow:
    """Restore a workflow from its stored state (written in `state_format`) and the cached spec."""
    dct = json.loads(state_json, cls=STATE_SERIALIZER.json_decoder_cls)
    if state_format == CANONICAL_JSON:
        for workflow in (dct, *dct["subprocesses"].values()):
            workflow["tasks"] = {task["id"]: task for task in workflow["tasks"]}
    STATE_SERIALIZER.migrate(dct)
    wf = STATE_SERIALIZER.registry.restore(dct, spec=bundle.spec, subprocess_specs=bundle.subprocess_specs)
    wf.script_engine = SCRIPT_ENGINE
    return wf


def state_hash(state_json: str, state_format: int) -> str:
    """The hash of a stored state that a faithful re-execution reproduces.

    CANONICAL_JSON is hashed as it is. ENGINE_JSON is hashed with task ids numbered by first appearance, timestamps
    dropped and mapping keys sorted: its cases may come from before the engine environment, when task ids were
    random and timestamps wall-clock, and the normalised form hashes only what the workflow decided.
    """
    if state_format == CANONICAL_JSON:
        return hashlib.sha256(state_json.encode()).hexdigest()
    order: dict[str, str] = {}

    def number(match: re.Match) -> str:
        return order.setdefault(match.group(0), f'"#{len(order)}"')

    numbered = _UUID_RE.sub(number, _TIMESTAMP_RE.sub('"last_state_change": 0', state_json))
    # Key order inside task data depends on whether the workflow was reloaded between two steps (a
    # multi-instance child's data merges in another order), so keys are sorted once ids are numbered
    # (numbering first keeps the engine's creation order, which a faithful re-execution repeats).
    return hashlib.sha256(canonical_state(numbered).encode()).hexdigest()


def canonical_state(state_json: str) -> str:
    """A state's JSON with mapping keys sorted: equal for equal states whatever order the engine wrote keys in."""
    # For comparing and hashing ENGINE_JSON states: stored like this, the tasks mapping would be sorted by id, children
    # before parents (CANONICAL_JSON, the stored form with keys sorted, keeps each workflow's tasks a list).
    return json.dumps(json.loads(state_json), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def task_id_order(state_json: str) -> list[str]:
    """Task ids in the order state_hash numbers them (two states that hash equal pair their ids by position)."""
    return list(dict.fromkeys(m.group(0).strip('"') for m in _UUID_RE.finditer(state_json)))


def all_tasks(wf: BpmnWorkflow) -> Iterator[Task]:
    """Every task of the workflow and of its subprocesses, in no particular order."""
    yield from wf.tasks.values()
    for sub in wf.subprocesses.values():
        yield from sub.tasks.values()


def find_tasks(wf: BpmnWorkflow, state: int = TaskState.ANY_MASK, manual: bool | None = None) -> list[Task]:
    """The tasks `wf.get_tasks(state=state, manual=manual)` returns, in its order, found by a direct walk.

    SpiffWorkflow's generic iterator cost three times this walk, and every case change looks for its waiting
    tasks several times. The walk takes the iterator's route: depth first, children in order, a subprocess's tasks
    where its task stands (unless the subprocess finished and finished tasks are not sought), and past a task
    only if its state can lead to the states sought (predicted tasks are entered only when they are sought).
    """
    # Most searches (waiting timers, started steps) find nothing: a look at every task's state says so at a
    # fraction of the walk's price. (`_state` is what SpiffWorkflow's `state` property returns; a case change reads it
    # some hundred times.)
    if not _any_in_state(wf, state):
        return []
    if state & TaskState.PREDICTED_MASK:
        lowest = TaskState.MAYBE
    elif state & TaskState.DEFINITE_MASK:
        lowest = TaskState.FUTURE
    else:
        lowest = TaskState.COMPLETED
    skip_finished_subprocesses = state <= TaskState.FINISHED_MASK
    subprocesses = wf.subprocesses
    found, stack = [], [wf.task_tree]
    while stack:
        task = stack.pop()
        task_state = task._state
        # Most workflows have no subprocess: then no task id needs hashing to look for one.
        sub = subprocesses.get(task.id) if subprocesses else None
        if sub is not None or (task._children and task_state >= lowest):
            below = [] if sub is None or (skip_finished_subprocesses and task_state >= TaskState.FINISHED_MASK) \
                else [sub.task_tree]
            siblings = task.workflow.tasks
            below.extend([siblings[child] for child in task._children])
            below.reverse()
            stack.extend(below)
        if task_state & state and (manual is None or task.task_spec.manual == manual):
            found.append(task)
    return found


def _any_in_state(wf: BpmnWorkflow, state: int) -> bool:
    for task in wf.tasks.values():
        if task._state & state:
            return True
    for sub in wf.subprocesses.values():
        for task in sub.tasks.values():
            if task._state & state:
                return True
    return False


def ready_user_tasks(wf: BpmnWorkflow) -> list[Task]:
    """Every READY manual task, including those inside call activities and subprocesses."""
    return find_tasks(wf, TaskState.READY, manual=True)


def ready_task(wf: BpmnWorkflow, task_id: str) -> Task:
    """Re-fetch a task by id and insist it is a READY manual task (Task.run() checks nothing itself)."""
    try:
        task = wf.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError, TypeError):
        task = None
    if task is None:
        raise NotFound(f"task {task_id} does not exist in this case")
    if task.state != TaskState.READY or not task.task_spec.manual:
        raise Conflict(f"task {task_id} ({task.task_spec.bpmn_name or task.task_spec.bpmn_id}) is "
                       f"{TaskState.get_name(task.state)}, not a READY task: someone may have completed it")
    return task


def complete_task(wf: BpmnWorkflow, task: Task, data: dict[str, Any]) -> None:
    """Set the form data on a READY task, run it and step the engine to the next wait."""
    task.set_data(**data)
    task.run()
    wf.do_engine_steps()


def end_outcome(wf: BpmnWorkflow) -> str | None:
    """The `outcome` property of the end event the finished workflow reached, if any."""
    outcome = None
    for task in find_tasks(wf, TaskState.COMPLETED):
        if task.workflow is wf and isinstance(task.task_spec, EndEvent):
            outcome = (getattr(task.task_spec, "extensions", {}) or {}).get("properties", {}).get("outcome", outcome)
    return outcome
