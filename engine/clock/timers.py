"""BPMN timers on OneWindow's clock: SpiffWorkflow must never fire a case's timer by the machine's wall clock.

SpiffWorkflow 3.2.0 decides whether a timer "has fired" by comparing its due value with
``datetime.now()`` each time the engine steps (SPIFFWORKFLOW.md §1.6). For the workflows OneWindow runs
(those driven by the runtime's script engine) that check is replaced by "has OneWindow fired it?": the
library only waits, and the sweeper fires a timer — when its deadline row is due on the working-day
clock — with ``workflow.catch``, which sets the flag read here. Workflows run by anything else keep
the library's behaviour. Installed once, on import, before any case workflow steps.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task

from engine.clock.calendar import SHANGHAI
from engine.clock.ladder import end_of_day
from engine.clock.limits import Budget, parse_budget
from engine.errors import InvalidInput
from engine.runtime import SCRIPT_ENGINE, find_tasks

# What a waiting timer holds instead of a wall-clock due time; a constant keeps the saved state (and
# so its hash) the same when an auditor re-executes the history.
NEVER = "9999-12-31T00:00:00+00:00"


def _fired_by_onewindow_only(wall_clock_check):
    def has_fired(self, my_task: Task) -> bool:
        if my_task.workflow.script_engine is SCRIPT_ENGINE:
            return my_task._get_internal_data("event_fired", False)
        return wall_clock_check(self, my_task)

    return has_fired


def _no_cycles_on_the_wall_clock(cycle_check):
    def cycle_complete(self, my_task: Task) -> bool:
        return False if my_task.workflow.script_engine is SCRIPT_ENGINE else cycle_check(self, my_task)

    return cycle_complete


TimeDateEventDefinition.has_fired = _fired_by_onewindow_only(TimeDateEventDefinition.has_fired)
DurationTimerEventDefinition.has_fired = _fired_by_onewindow_only(DurationTimerEventDefinition.has_fired)
CycleTimerEventDefinition.cycle_complete = _no_cycles_on_the_wall_clock(CycleTimerEventDefinition.cycle_complete)


def is_timer(task: Task) -> bool:
    """True for a task waiting on a timer event (boundary, intermediate or event-gateway member)."""
    return isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)


def waiting_timers(wf: BpmnWorkflow) -> list[Task]:
    """Timer tasks currently waiting, in subprocesses too."""
    return [t for t in find_tasks(wf, TaskState.WAITING) if is_timer(t)]


def arm_timers(wf: BpmnWorkflow) -> None:
    """Store the constant NEVER as every waiting timer's due value (call before the state is saved)."""
    for task in waiting_timers(wf):
        if task.internal_data.get("event_value") != NEVER:
            task.internal_data["event_value"] = NEVER




def timer_budget(task: Task, props: dict[str, Any], now: datetime) -> tuple[Budget, datetime | None]:
    """A timer's budget from its `limit` property, else from its own expression evaluated on OneWindow's clock."""
    if props.get("limit"):
        return parse_budget(props["limit"]), None
    definition = task.task_spec.event_definition
    value = str(task.workflow.script_engine.evaluate(task, definition.expression)).strip()
    if value.upper().startswith("P"):
        try:
            return parse_budget(value), None
        except InvalidInput:
            parsed = TimerEventDefinition.parse_iso_duration(value)
            return Budget(0, "at"), now + TimerEventDefinition.get_timedelta_from_start(parsed, now)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"timer '{task.task_spec.bpmn_id}' evaluates to {value!r}, which is neither a limit "
                           "(3wd, P5D, PT4H) nor an ISO date or time") from None
    if len(value) == 10:  # a bare date: the timer runs to the end of that day
        return Budget(0, "at"), end_of_day(when.date())
    return Budget(0, "at"), (when if when.tzinfo else when.replace(tzinfo=SHANGHAI)).astimezone(UTC)


