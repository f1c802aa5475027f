"""The auditor's command line: history as of an event, verification with exit codes, figures and exports."""
from __future__ import annotations

import contextlib
import io
import json

from sqlalchemy import text

from engine.cli import main
from engine.services import audit
from engine.store.uow import writing
from tests.audit.helpers import returned_twice_then_approved


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    return code, out.getvalue()


def test_history_at_seq_prints_the_state_then(ow, db_url, tmp_path):
    case_no, shots = returned_twice_then_approved(ow)
    code, out = run("history", case_no, "--at", "4", "--json", "--db", db_url)
    view = json.loads(out)
    assert code == 0 and view["seq"] == 4 and view["status"] == shots[3]["status"]
    assert view["replayed_state_hash"] == shots[3]["state_hash"] and view["verified"]
    code, out = run("history", case_no, "--json", "--db", db_url)
    assert [e["seq"] for e in json.loads(out)] == list(range(1, len(shots) + 1))
    code, out = run("history", case_no, "--at", "99", "--json", "--db", db_url)
    assert code == 1 and json.loads(out)["kind"] == "InvalidInput"
    code, _ = run("history", case_no, "--at", "2", "--as", "window1", "--db", db_url)
    assert code == 1  # only auditors and supervisors are logged readers
    code, _ = run("history", case_no, "--as", "auditor1", "--json", "--db", db_url)
    code_at, _ = run("history", case_no, "--at", "3", "--as", "auditor1", "--json", "--db", db_url)
    log = audit.read_log(ow, "auditor1", case_no)
    assert (code, code_at) == (0, 0) and [r["action"] for r in log] == ["as_of", "history"]


def test_audit_verify_exit_codes_and_problems(ow, db_url):
    case_no, _ = returned_twice_then_approved(ow)
    code, out = run("audit", "verify", "--json", "--db", db_url)
    assert code == 0 and json.loads(out)["problems"] == [] and json.loads(out)["events_checked"] > 10
    code, out = run("audit", "verify", "--chain-only", "--case", case_no, "--json", "--db", db_url)
    assert code == 0 and json.loads(out)["cases_checked"] == 1
    with writing(ow.db) as s:
        s.execute(text("UPDATE case_event SET actor = 'mallory' WHERE seq = 5"))
    code, out = run("audit", "verify", "--json", "--db", db_url, "--as", "auditor1")
    problems = json.loads(out)["result"]["problems"]
    assert code == 1 and {(p["case_no"], p["seq"]) for p in problems} == {(case_no, 5)}


def test_audit_figures_and_exports(ow, db_url, tmp_path):
    returned_twice_then_approved(ow)
    code, out = run("audit", "figures", "--as", "supervisor1", "--from", "2026-03-01", "--to", "2026-03-31",
                    "--by", "item", "--json", "--db", db_url)
    report = json.loads(out)
    assert code == 0 and report["total"]["concluded"] == 1 and report["rows"][0]["key"] == "outdoor-ad"
    target = tmp_path / "exchange.csv"
    code, out = run("audit", "export", "exchange", "--as", "auditor1", "--from", "2026-03-01", "--to", "2026-03-31",
                    "--out", str(target), "--json", "--db", db_url)
    lines = target.read_text(encoding="utf-8").lstrip("\ufeff").splitlines()
    assert code == 0 and lines[0].startswith("case_no,item_code") and len(lines) == 1 + 4  # codes 1, 3, 8, 11
    empty = tmp_path / "empty.json"
    code, _ = run("audit", "export", "complaints", "--as", "auditor1", "--format", "json", "--from", "2020-01-01",
                  "--to", "2020-01-31", "--out", str(empty), "--db", db_url)
    assert code == 0 and json.loads(empty.read_text(encoding="utf-8"))["rows"] == []
    code, _ = run("audit", "figures", "--as", "window1", "--db", db_url)
    assert code == 1
