"""Composition root: wires the database, clock, forms and the spec and workflow caches every use case receives."""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.clock.timesource import Clock, SystemClock
from engine.forms import FormRegistry
from engine.runtime import LiveWorkflows, SpecCache
from engine.store.db import Database, open_database


@dataclass
class OneWindow:
    """Everything a use case needs; the web app, CLI, scheduler and tests each build one."""

    db: Database
    clock: Clock = field(default_factory=SystemClock)
    forms: FormRegistry = field(default_factory=FormRegistry)
    specs: SpecCache = field(default_factory=SpecCache)
    workflows: LiveWorkflows = field(default_factory=LiveWorkflows)


def open_onewindow(url: str | None = None, clock: Clock | None = None) -> OneWindow:
    """Open the database at `url` (default: ONEWINDOW_DATABASE_URL or instance/onewindow.db)."""
    return OneWindow(db=open_database(url), clock=clock or SystemClock())
