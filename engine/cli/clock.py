"""CLI commands of the legal clock: tick, worker, calendar, special procedures, corrections, extensions."""
from __future__ import annotations

import argparse
import logging
from datetime import date, datetime
from pathlib import Path

from engine import services
from engine.bootstrap import OneWindow
from engine.clock.settings import load_settings
from engine.clock.timesource import ManualClock
from engine.errors import InvalidInput


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--now '{text}' is not an ISO time like 2026-10-09T09:00+08:00") from None
    if when.tzinfo is None:
        raise InvalidInput(f"--now '{text}' needs a time zone offset, e.g. +08:00")
    return when


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"'{text}' is not a date like 2026-10-08") from None


def print_clocks(clocks: list[dict]) -> None:
    """Print a case's clocks as a table: budget, used, paused, remaining working days, due, stage, provisional."""
    print(f"{'clock':<22}{'budget':>8}{'used':>6}{'paused':>8}{'left':>6}  {'due (Shanghai)':<18}{'stage':<9}flags")
    for c in clocks:
        name = c["kind"] + (f":{c['bpmn_id']}" if c["bpmn_id"] else "")
        flags = " ".join(f for f, on in (("provisional", c["provisional"]), ("paused", c["is_paused"]),
                                         ("overdue", c["overdue"]), ("closed", not c["is_open"])) if on)
        shown = [("-" if v is None else v) for v in (c["used"], c["paused"], c["remaining"])]
        budget = "fixed" if c["unit"] == "at" else f"{c['budget']}{c['unit']}"
        print(f"{name:<22}{budget:>8}{shown[0]:>6}{shown[1]:>8}{shown[2]:>6}  "
              f"{c['due_local']:<18}{c['stage']:<9}{flags}")


def cmd_tick(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Run one sweep as of a given time and list what fired."""
    if args.now is not None:
        ow.clock = ManualClock(_instant(args.now))
    fired = services.sweep(ow)
    return {"now": ow.clock.now().isoformat(), "fired": len(fired), "stages": fired}


def cmd_worker(ow: OneWindow, args: argparse.Namespace) -> None:
    """Sweep on a heartbeat until interrupted."""
    from engine.scheduler import run_worker

    interval = load_settings().heartbeat_seconds if args.interval is None else args.interval
    if not interval > 0:
        raise InvalidInput(f"--interval must be a positive number of seconds, not {interval}")
    # The worker reports each sweep that fired something (engine.scheduler logs it) on standard error.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print(f"OneWindow clock worker: sweeping every {interval} s", flush=True)
    run_worker(ow, interval)


# A year's notice is a few dozen lines; anything far larger is not one.
NOTICE_MAX_BYTES = 64 * 1024


def cmd_calendar_import(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Import a year's holiday notice (TOML, or YAML for *.yaml / *.yml) and recompute affected deadlines."""
    path = Path(args.file)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    if path.stat().st_size > NOTICE_MAX_BYTES:
        raise InvalidInput(f"{path}: {path.stat().st_size} bytes is too large for a holiday notice "
                           f"(at most {NOTICE_MAX_BYTES})")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {exc.start}); save the notice as UTF-8") from None
    return services.import_calendar(ow, text, path.name, args.as_user)


def cmd_calendar_add(ow: OneWindow, args: argparse.Namespace) -> dict:
    """The n-th working day after a date."""
    return services.calendar_add(ow, _day(args.date), args.n)


def cmd_calendar_between(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Working days in (A, B]."""
    return services.calendar_between(ow, _day(args.a), _day(args.b))


def cmd_suspend(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Start a special procedure (the clocks pause)."""
    return services.suspend(ow, args.case_no, args.as_user, args.procedure, args.reason, args.expected_days)


def cmd_resume(ow: OneWindow, args: argparse.Namespace) -> dict:
    """End the special procedure (the clocks run again)."""
    return services.resume(ow, args.case_no, args.as_user, args.reason)


def cmd_extend(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Grant an extension in working days."""
    return services.extend(ow, args.case_no, args.as_user, args.days, args.reason)


def cmd_request_correction(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Ask for missing materials during review (补正); the clocks pause."""
    return services.request_correction(ow, args.case_no, args.as_user, args.missing, args.reason)


def cmd_receive_correction(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Record that the materials asked for during review arrived."""
    return services.receive_correction(ow, args.case_no, args.as_user, args.note)


def register(r) -> None:
    """Add the clock subcommands."""
    r.add("tick", cmd_tick, "run one deadline sweep (as of --now) and print what fired").add_argument(
        "--now", help="ISO time with offset, e.g. 2026-10-09T09:00+08:00 (default: now)")
    r.add("worker", cmd_worker, "sweep deadlines on a heartbeat (separate worker process)").add_argument(
        "--interval", type=float, help="seconds between sweeps (default: clock settings, 30)")
    cal = r.sub.add_parser("calendar", help="the working-day calendar")
    cal_sub = cal.add_subparsers(dest="calendar_command", required=True)
    p = r.add("import", cmd_calendar_import, "import a year's official holiday notice (TOML)", sub=cal_sub)
    p.add_argument("file")
    p.add_argument("--as", dest="as_user", default="admin")
    p = r.add("add", cmd_calendar_add, "the N-th working day after DATE", sub=cal_sub)
    p.add_argument("date")
    p.add_argument("n", type=int)
    p = r.add("between", cmd_calendar_between, "working days in (A, B]", sub=cal_sub)
    p.add_argument("a")
    p.add_argument("b")
    p = r.add("suspend", cmd_suspend, "start a special procedure (特别程序); the clocks pause", actor=True)
    p.add_argument("case_no")
    p.add_argument("--procedure", required=True, help="e.g. 专家评审, 听证, 检测")
    p.add_argument("--reason", required=True)
    p.add_argument("--expected-days", type=int)
    p = r.add("resume", cmd_resume, "end the special procedure; the clocks run again", actor=True)
    p.add_argument("case_no")
    p.add_argument("--reason", default="")
    p = r.add("extend", cmd_extend, "grant an extension (延期) in working days", actor=True)
    p.add_argument("case_no")
    p.add_argument("days", type=int)
    p.add_argument("--reason", required=True)
    p = r.add("request-correction", cmd_request_correction, "ask for missing materials during review (补正)",
              actor=True)
    p.add_argument("case_no")
    p.add_argument("--missing", nargs="+", required=True)
    p.add_argument("--reason", default="")
    p = r.add("receive-correction", cmd_receive_correction, "record that the materials asked for arrived",
              actor=True)
    p.add_argument("case_no")
    p.add_argument("--note", default="")
