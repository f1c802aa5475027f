"""The heartbeat: APScheduler calls services.sweep on an interval (inside `serve`, or as `onewindow worker`).

APScheduler only keeps time here; what is due lives in the deadline table, so any number of heartbeats
(threads or processes on PostgreSQL) can run and each stage still fires exactly once.
"""
from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine.bootstrap import OneWindow
from engine.services.audit import scheduled_verification
from engine.services.clock import sweep

log = logging.getLogger(__name__)


def _beat(ow: OneWindow) -> None:
    fired = sweep(ow)
    if fired:
        log.info("clock sweep fired %d stage(s)", len(fired))


def _add_job(scheduler, ow: OneWindow, interval_seconds: float) -> None:
    # One run at a time per scheduler, and a missed beat is not made up twice: the next sweep takes it all.
    scheduler.add_job(_beat, "interval", args=[ow], seconds=interval_seconds, id="clock-sweep",
                      max_instances=1, coalesce=True, misfire_grace_time=None)
    # The audit area's nightly check of every history (chains + re-execution) at 02:30 Shanghai; the run
    # is stored in audit_run and shown on /audit.
    scheduler.add_job(scheduled_verification, "cron", args=[ow], hour=18, minute=30, id="history-verify",
                      max_instances=1, coalesce=True, misfire_grace_time=3600)


def start_heartbeat(ow: OneWindow, interval_seconds: float) -> BackgroundScheduler:
    """Start sweeping in a background thread of this process; call .shutdown() to stop."""
    scheduler = BackgroundScheduler(timezone="UTC")
    _add_job(scheduler, ow, interval_seconds)
    scheduler.start()
    return scheduler


def run_worker(ow: OneWindow, interval_seconds: float) -> None:
    """Sweep in the foreground until interrupted (a separate worker process)."""
    scheduler = BlockingScheduler(timezone="UTC")
    _add_job(scheduler, ow, interval_seconds)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("clock worker stopped")
