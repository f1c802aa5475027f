"""CLI commands for set-up, the catalogue and casework."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from engine import services
from engine.bootstrap import OneWindow
from engine.cli import Refused, Registrar, data_arg
from engine.services import admin_edits, reassignment
from engine.store.db import upgrade_schema

DEMO_PASSWORD_ENV = "ONEWINDOW_DEMO_PASSWORD"


def cmd_init_db(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Create or upgrade the schema."""
    upgrade_schema(ow.db)
    services.seed_calendar(ow)
    # Never print credentials that may sit in the URL.
    return {"database": ow.db.url.split("@")[-1], "schema": "up to date"}


def cmd_load_demo(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Create the schema, the demo organisation and users, and publish the catalogue."""
    upgrade_schema(ow.db)
    services.seed_calendar(ow)
    password = os.environ.get(DEMO_PASSWORD_ENV, "demo-1234")
    counts = services.load_organisation(ow, services.organisation.DEMO_ORGANISATION, password)
    published = services.deploy_catalogue(ow, "admin")
    return {**counts, "items": published, "demo_password": password}


def cmd_serve(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Serve the web app (waitress) with the timer heartbeat."""
    from waitress import serve

    from engine.clock.settings import load_settings
    from engine.scheduler import start_heartbeat
    from web.app import create_app

    # Browsers only send Secure cookies over HTTPS; on this machine's loopback the demo runs on plain HTTP.
    loopback = args.host in ("127.0.0.1", "localhost", "::1")
    app = create_app(ow, {"SESSION_COOKIE_SECURE": not loopback, "REMEMBER_COOKIE_SECURE": not loopback})
    # Embedded default: the sweeper beats inside the server; PostgreSQL deployments may add `onewindow worker`s.
    heartbeat = start_heartbeat(ow, load_settings().heartbeat_seconds)
    print(f"OneWindow serving on http://{args.host}:{args.port}/", flush=True)
    try:
        serve(app, host=args.host, port=args.port, threads=8)
    finally:
        heartbeat.shutdown(wait=False)
    return {}


def cmd_validate(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Lint BPMN/item files; --json prints one list of findings (each names its file); exit 1 on any error."""
    results = services.validate_paths(ow, [Path(p) for p in args.paths])
    out = [f.as_dict() for findings in results.values() for f in findings]
    errors = sum(1 for fs in results.values() for f in fs if f.severity == "error")
    if not args.json:
        for path, findings in results.items():
            print(f"{path}: {'OK' if not findings else f'{len(findings)} finding(s)'}")
            for f in findings:
                print(f"  {f}")
    if errors:
        raise Refused(out, f"{errors} error(s)", bare=True)
    return out if args.json else None


def cmd_deploy(ow: OneWindow, args: argparse.Namespace) -> list:
    """Publish items as new versions."""
    return services.deploy_paths(ow, [Path(p) for p in args.paths], args.as_user)


def cmd_items(ow: OneWindow, args: argparse.Namespace) -> list:
    """List the catalogue."""
    return services.list_items(ow)


def cmd_apply(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Apply for an item."""
    applicant = data_arg(args.applicant) if args.applicant else None
    return services.apply(ow, args.item_code, args.as_user, data_arg(args.data), applicant=applicant)


def cmd_accept(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Accept a case at intake."""
    return {"case_no": args.case_no, "status": services.accept(ow, args.case_no, args.as_user, args.opinion)}


def cmd_reject(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Reject a case at intake."""
    return {"case_no": args.case_no, "status": services.reject_at_intake(ow, args.case_no, args.as_user, args.reason)}


def cmd_withdraw(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Withdraw a case."""
    return {"case_no": args.case_no, "status": services.withdraw(ow, args.case_no, args.as_user, args.reason)}


def cmd_inbox(ow: OneWindow, args: argparse.Namespace) -> list:
    """A clerk's open work."""
    return services.inbox(ow, args.as_user, scope=args.scope, limit=args.limit, offset=args.offset)


def cmd_claim(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Claim a task."""
    services.claim(ow, args.task_id, args.as_user)
    return {"task_id": args.task_id, "assignee": args.as_user}


def cmd_unclaim(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Release a claimed task."""
    services.unclaim(ow, args.task_id, args.as_user)
    return {"task_id": args.task_id, "assignee": None}


def cmd_complete(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Complete a task with form data."""
    return {"task_id": args.task_id, "status": services.complete(ow, args.task_id, args.as_user, data_arg(args.data))}


def cmd_reassign(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Give an open task to another clerk of its groups and department (a head or supervisor)."""
    return reassignment.reassign(ow, args.task_id, args.as_user, args.to, args.reason)


def cmd_team(ow: OneWindow, args: argparse.Namespace) -> list:
    """Open work in the departments a head or supervisor covers."""
    return reassignment.team_work(ow, args.as_user, limit=args.limit, offset=args.offset)


def cmd_edit_contact(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Correct an applicant's contact details (an admin or the department's head), with the reason."""
    changes = {name: getattr(args, name) for name in admin_edits.EDITABLE if getattr(args, name) is not None}
    return admin_edits.edit_contact(ow, args.case_no, args.as_user, changes, args.reason)


def cmd_case(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Show a case, its clocks as a table first when not --json."""
    detail = services.case_detail(ow, args.case_no)
    if args.json:
        return detail
    from engine.cli.clock import print_clocks

    print_clocks(detail.pop("clocks"))
    return detail


def register(r: Registrar) -> None:
    """Add the set-up, catalogue and casework subcommands."""
    add = r.add
    add("init-db", cmd_init_db, "create or upgrade the database schema")
    add("load-demo", cmd_load_demo, "load the demo organisation, users and catalogue")
    p = add("serve", cmd_serve, "serve the web app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    add("validate", cmd_validate, "lint BPMN or item files").add_argument("paths", nargs="+")
    p = add("deploy", cmd_deploy, "publish items as new versions")
    p.add_argument("paths", nargs="+")
    p.add_argument("--as", dest="as_user", default="admin")
    add("items", cmd_items, "list the catalogue")
    p = add("apply", cmd_apply, "apply for an item; prints the case number", actor=True)
    p.add_argument("item_code")
    p.add_argument("--data", required=True, help="application form as JSON or @file")
    p.add_argument("--applicant", help="applicant details (JSON or @file), required at a window")
    p = add("accept", cmd_accept, "accept a case at intake", actor=True)
    p.add_argument("case_no")
    p.add_argument("--opinion", default="")
    p = add("reject", cmd_reject, "reject a case at intake", actor=True)
    p.add_argument("case_no")
    p.add_argument("--reason", required=True)
    p = add("withdraw", cmd_withdraw, "withdraw a case", actor=True)
    p.add_argument("case_no")
    p.add_argument("--reason", default="")
    p = add("inbox", cmd_inbox, "list open work", actor=True)
    p.add_argument("--scope", choices=["mine", "groups", "all"], default="all")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    add("claim", cmd_claim, "claim a task", actor=True).add_argument("task_id")
    add("unclaim", cmd_unclaim, "release a claimed task", actor=True).add_argument("task_id")
    p = add("complete", cmd_complete, "complete a task", actor=True)
    p.add_argument("task_id")
    p.add_argument("--data", default="{}", help="form data as JSON or @file")
    add("case", cmd_case, "show a case").add_argument("case_no")
    p = add("reassign", cmd_reassign, "give an open task to another clerk (heads and supervisors)", actor=True)
    p.add_argument("task_id")
    p.add_argument("--to", required=True, help="username of the new holder")
    p.add_argument("--reason", required=True)
    p = add("team", cmd_team, "open work of the departments one heads or supervises", actor=True)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p = add("edit-contact", cmd_edit_contact, "correct an applicant's contact details", actor=True)
    p.add_argument("case_no")
    p.add_argument("--phone")
    p.add_argument("--address")
    p.add_argument("--contact-name", dest="contact_name")
    p.add_argument("--reason", required=True)
    # `history` and `audit …` live in engine/cli/audit.py.
