"""Exactly-once firing with several worker processes on PostgreSQL, and a worker killed mid-sweep."""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from engine import services
from engine.bootstrap import open_onewindow
from engine.clock.timesource import ManualClock
from engine.history import verify_chain
from engine.store.models import Case, CaseEvent, Deadline, Notification
from engine.store.uow import reading
from tests.clock.bulk import add_due_warnings, clone_cases
from tests.integration.helpers import accepted_ad_case

NOW = datetime(2026, 3, 12, 2, 0, tzinfo=UTC)
FIRE_FROM = datetime(2026, 3, 11, 0, 0, tzinfo=UTC)
on_postgres = pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


def _worker(url: str, started) -> None:
    """Sweep until nothing is left (a separate process, like `onewindow worker`)."""
    ow = open_onewindow(url, ManualClock(NOW))
    started.set()
    idle = 0
    while idle < 3:
        idle = 0 if services.sweep(ow) else idle + 1
        if idle:
            time.sleep(0.05)
    ow.db.dispose()


def _fired_per_deadline(ow) -> Counter:
    with reading(ow.db) as s:
        payloads = s.scalars(select(CaseEvent.payload).where(CaseEvent.type == "warning_issued")).all()
    return Counter(p["deadline_id"] for p in payloads)


def _broken_chains(ow) -> list:
    """Hash-chain problems of every case: concurrent appends must keep each chain intact."""
    with reading(ow.db) as s:
        return [p for case in s.scalars(select(Case)) for p in verify_chain(s, case)]


def _bulk(ow, cases: int, per_case: int) -> set[int]:
    template = accepted_ad_case(ow)
    add_due_warnings(ow, clone_cases(ow, template, cases), per_case, FIRE_FROM)
    with reading(ow.db) as s:
        return set(s.scalars(select(Deadline.id).where(Deadline.next_fire_at <= FIRE_FROM.replace(hour=1))))


@pytest.mark.slow
@on_postgres
def test_four_workers_fire_each_of_10000_stages_exactly_once(ow):
    expected = _bulk(ow, cases=1000, per_case=10)
    assert len(expected) == 10_000
    ctx = multiprocessing.get_context("spawn")
    started = [ctx.Event() for _ in range(4)]
    workers = [ctx.Process(target=_worker, args=(ow.db.url, e)) for e in started]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    fired = _fired_per_deadline(ow)
    assert set(fired) >= expected and all(fired[d] == 1 for d in expected)
    with reading(ow.db) as s:
        warned = s.scalar(select(func.count(Deadline.id)).where(Deadline.id.in_(expected), Deadline.stage == "warned"))
        notified = s.scalar(select(func.count(func.distinct(Notification.deadline_id)))
                            .where(Notification.deadline_id.in_(expected)))
    assert warned == 10_000 and notified == 10_000
    assert _broken_chains(ow) == []


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_worker_killed_mid_sweep_loses_nothing_and_duplicates_nothing(ow):
    expected = _bulk(ow, cases=300, per_case=10)
    ctx = multiprocessing.get_context("spawn")
    started = ctx.Event()
    worker = ctx.Process(target=_worker, args=(ow.db.url, started))
    worker.start()
    assert started.wait(60)
    deadline = time.monotonic() + 60
    while not _fired_per_deadline(ow) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(worker.pid, signal.SIGKILL)
    worker.join()
    partial = sum(_fired_per_deadline(ow).values())
    assert 0 < partial < len(expected), "the worker must die in the middle of the work"
    ow.clock.set(NOW)
    while services.sweep(ow):
        pass
    fired = _fired_per_deadline(ow)
    assert all(fired[d] == 1 for d in expected) and len(set(fired) & expected) == len(expected)
    assert _broken_chains(ow) == []
