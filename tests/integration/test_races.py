"""Two clerks in two processes race to complete or claim the same task: exactly one wins, history stays valid."""
from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from engine import services
from engine.bootstrap import open_onewindow
from engine.errors import Conflict
from tests.conftest import DEMO_PASSWORD
from tests.integration.helpers import accepted_ad_case, only_task

ROUNDS = 4


def _racer(url: str, action: str, task_id: str, username: str, barrier, results) -> None:
    ow = open_onewindow(url)
    try:
        barrier.wait(timeout=30)
        if action == "complete":
            services.complete(ow, task_id, username, {"decision": "pass", "opinion": f"by {username}"})
        else:
            services.claim(ow, task_id, username)
        results.put(("won", username))
    except Conflict as exc:
        results.put(("conflict", str(exc)))
    except Exception as exc:  # anything else is a bug the test must show
        results.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        ow.db.dispose()


def _race(url: str, action: str, task_id: str, users: tuple[str, str]) -> list[tuple[str, str]]:
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(url, action, task_id, u, barrier, results)) for u in users]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    return sorted(results.get(timeout=5) for _ in procs)


@pytest.mark.slow
@pytest.mark.parametrize("action", ["complete", "claim"])
def test_two_processes_racing_for_one_task_produce_one_winner(ow, db_url, action, tmp_path):
    # The demo has one urban reviewer; a second joins so that two clerks may both act on the task.
    extra = tmp_path / "org.toml"
    extra.write_text('[[users]]\nusername = "reviewer2"\ndisplay_name = "第二审查员"\n'
                     'department = "city-urban"\ngroups = ["reviewer"]\n', encoding="utf-8")
    services.load_organisation(ow, extra, DEMO_PASSWORD)
    for _ in range(ROUNDS):
        case_no = accepted_ad_case(ow)
        task_id = only_task(ow, "reviewer1", "review", case_no)
        outcomes = _race(db_url, action, task_id, ("reviewer1", "reviewer2"))
        kinds = [kind for kind, _ in outcomes]
        assert kinds == ["conflict", "won"], outcomes
        events = services.history(ow, case_no)
        expected = "task_completed" if action == "complete" else "claimed"
        assert [e["type"] for e in events].count(expected) == 1
        assert services.verify_history(ow, case_no)["problems"] == []


def test_a_database_still_locked_after_the_busy_timeout_is_a_conflict_and_changes_nothing(ow, db_url):
    if not ow.db.is_sqlite:
        pytest.skip("SQLite's file lock; PostgreSQL waits on row locks instead")
    case_no = accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", case_no)
    ow.db.dispose()
    # The pool's next connection gives up after 50 ms instead of 30 s, while another process holds the write lock.
    pooled = ow.db.write_engine.raw_connection()
    pooled.driver_connection.execute("PRAGMA busy_timeout=50")
    pooled.close()
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Conflict, match="the database is busy"):
            services.complete(ow, task_id, "reviewer1", {"decision": "pass", "opinion": "locked out"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [t["task_id"] for t in services.inbox(ow, "reviewer1") if t["case_no"] == case_no] == [task_id]
    assert services.case_detail(ow, case_no)["status"] == "ACCEPTED"
