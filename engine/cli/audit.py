"""CLI commands for auditors: a case's history (as of any event), verification, supervision figures and exports."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine import services
from engine.bootstrap import OneWindow
from engine.cli import Refused, Registrar
from engine.services import audit, complaints, supervision
from engine.services.complaint_stages import STAGES


def cmd_history(ow: OneWindow, args: argparse.Namespace) -> Any:
    """A case's events, or with --at SEQ the case as it stood after that event (re-executed)."""
    if args.at is None:
        return audit.logged_history(ow, args.case_no, args.as_user) if args.as_user else services.history(ow, args.case_no)
    return audit.case_as_of(ow, args.case_no, args.at, reader=args.as_user)


def cmd_verify(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Check every hash chain and re-execute every case; the run is stored; exit 1 on any problem."""
    if args.chain_only:
        report = audit.verify_history(ow, args.case, reexecute=False)
    else:
        report = audit.run_verification(ow, args.as_user, trigger="cli", case_no=args.case)
    if report["problems"]:
        if not args.json:
            for p in report["problems"]:
                print(f"{p['case_no']} seq {p['seq'] if p['seq'] is not None else '-'} [{p['check']}] {p['problem']}",
                      file=sys.stderr)
        raise Refused(report, f"{len(report['problems'])} problem(s) in the history")
    return report


def cmd_figures(ow: OneWindow, args: argparse.Namespace) -> dict:
    """On-time, on-site and satisfaction rates for a period, grouped."""
    report = supervision.supervision_report(ow, args.as_user, args.date_from, args.date_to, by=args.by)
    return report if args.json else {"from": report["from"], "to": report["to"], "by": report["by"],
                                     "rows": report["rows"], "total": report["total"]}


def cmd_export(ow: OneWindow, args: argparse.Namespace) -> Any:
    """Write one export (CSV or JSON) to --out or standard output."""
    data = supervision.export_rows(ow, args.as_user, args.kind, args.date_from, args.date_to, by=args.by)
    if args.format == "json":
        if not args.out:
            return data
        text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    else:
        text = supervision.export_csv(data)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        return {"kind": args.kind, "rows": len(data["rows"]), "written": args.out}
    sys.stdout.write(text)
    return None


def cmd_complaints(ow: OneWindow, args: argparse.Namespace) -> list:
    """The complaints desk: complaints not yet archived (all with --all), with reply deadlines."""
    return complaints.complaint_queue(ow, args.as_user, include_archived=args.all)


def cmd_complaint_advance(ow: OneWindow, args: argparse.Namespace) -> dict:
    """Move a complaint to its next stage with the supervisor's text."""
    return complaints.advance_complaint(ow, args.complaint_id, args.as_user, args.to, args.text)


def _period(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="date_from", help="first day YYYY-MM-DD (default: first of this month)")
    p.add_argument("--to", dest="date_to", help="last day YYYY-MM-DD (default: today)")
    p.add_argument("--by", choices=supervision.GROUPINGS, default="department")


def register(r: Registrar) -> None:
    """Add `history` and the `audit` subcommands."""
    p = r.add("history", cmd_history, "show a case's history, or the case as of one event (--at)")
    p.add_argument("case_no")
    p.add_argument("--at", type=int, metavar="SEQ", help="the case as it stood after event SEQ")
    p.add_argument("--as", dest="as_user", help="auditor or supervisor reading (checked and logged)")
    group = r.sub.add_parser("audit", help="auditor commands")
    audit_sub = group.add_subparsers(dest="audit_command", required=True)
    p = r.add("verify", cmd_verify, "verify hash chains and re-execute every case", sub=audit_sub)
    p.add_argument("--case", help="one case number")
    p.add_argument("--as", dest="as_user", help="auditor or supervisor running it (default: the operator)")
    p.add_argument("--chain-only", action="store_true", help="hash chains only, no re-execution, not stored")
    p = r.add("figures", cmd_figures, "supervision figures for a period", actor=True, sub=audit_sub)
    _period(p)
    p = r.add("export", cmd_export, "export figures, overdue cases, cards, reviews, complaints or the exchange codes",
              actor=True, sub=audit_sub)
    p.add_argument("kind", choices=list(supervision.EXPORTS))
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.add_argument("--out", help="file to write (default: standard output)")
    _period(p)
    group = r.sub.add_parser("complaint", help="efficiency complaints (效能投诉): list and advance")
    complaint_sub = group.add_subparsers(dest="complaint_command", required=True)
    p = r.add("list", cmd_complaints, "complaints not yet archived", actor=True, sub=complaint_sub)
    p.add_argument("--all", action="store_true", help="archived ones too")
    p = r.add("advance", cmd_complaint_advance, "move a complaint to its next stage", actor=True, sub=complaint_sub)
    p.add_argument("complaint_id", type=int)
    p.add_argument("--to", required=True, choices=STAGES[1:])
    p.add_argument("--text", required=True)
