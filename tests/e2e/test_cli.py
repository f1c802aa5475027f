"""The `onewindow` command as a person or script runs it: real processes, real database, JSON output."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# The console script installed into the same environment as the interpreter running the tests.
ONEWINDOW = str(Path(sys.executable).parent / "onewindow")
APPLICATION = {"site_address": "延安路100号", "facility_type": "lightbox", "area_sqm": 4, "period_months": 12}


def run(db_url: str, *args: str, expect: int = 0) -> dict | list:
    """Run `onewindow ARGS --db URL --json` and return its parsed output."""
    proc = subprocess.run([ONEWINDOW, *args, "--db", db_url, "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == expect, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def task_of(db_url: str, user: str, bpmn_id: str) -> str:
    tasks = [t for t in run(db_url, "inbox", "--as", user) if t["bpmn_id"] == bpmn_id]
    assert len(tasks) == 1
    return tasks[0]["task_id"]


@pytest.mark.slow
def test_cli_walks_an_outdoor_ad_case_from_application_to_decision(db_url):
    loaded = run(db_url, "load-demo")
    assert {"item": "outdoor-ad", "version": 1, "new": True} in loaded["items"]
    assert any(i["code"] == "outdoor-ad" for i in run(db_url, "items"))
    case_no = run(db_url, "apply", "outdoor-ad", "--as", "zhangsan", "--data", json.dumps(APPLICATION))["case_no"]
    assert run(db_url, "accept", case_no, "--as", "window1")["status"] == "ACCEPTED"
    review = task_of(db_url, "reviewer1", "review")
    run(db_url, "claim", review, "--as", "reviewer1")
    run(db_url, "complete", review, "--as", "reviewer1", "--data", '{"decision": "pass", "opinion": "符合"}')
    survey = task_of(db_url, "inspector1", "survey")
    run(db_url, "complete", survey, "--as", "inspector1", "--data",
        '{"survey_result": "conforms", "survey_date": "2026-03-11"}')
    decide = task_of(db_url, "chief1", "decide")
    done = run(db_url, "complete", decide, "--as", "chief1", "--data", '{"decision": "approve", "opinion": "准予"}')
    assert done["status"] == "DECIDED"
    case = run(db_url, "case", case_no)
    assert (case["status"], case["result"], case["open_tasks"]) == ("DECIDED", "approved", [])
    assert [e["seq"] for e in run(db_url, "history", case_no)] == [1, 2, 3, 4, 5, 6]
    assert run(db_url, "audit", "verify")["problems"] == []


@pytest.mark.slow
def test_cli_refusals_exit_1_with_a_reason_and_usage_errors_exit_2(db_url, tmp_path):
    run(db_url, "load-demo")
    bad = run(db_url, "apply", "outdoor-ad", "--as", "zhangsan", "--data", '{"area_sqm": "big"}', expect=1)
    assert bad["ok"] is False and "area_sqm" in bad["fields"]
    assert run(db_url, "apply", "outdoor-ad", "--as", "zhangsan", "--data", "{not json", expect=1)["kind"] == "InvalidInput"
    assert run(db_url, "complete", "no-such-task", "--as", "reviewer1", expect=1)["kind"] == "NotFound"
    assert run(db_url, "apply", "no-such-item", "--as", "zhangsan", "--data", "{}", expect=1)["kind"] == "NotFound"
    hostile = tmp_path / "xxe.bpmn"
    hostile.write_text('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       '<definitions>&x;</definitions>', encoding="utf-8")
    result = run(db_url, "validate", str(hostile), expect=1)
    assert [(f["file"], f["code"]) for f in result] == [(str(hostile), "xml-dtd")]
    usage = subprocess.run([ONEWINDOW, "apply"], capture_output=True, text=True)
    assert usage.returncode == 2
    assert run(db_url, "items") and run(db_url, "audit", "verify")["cases_checked"] == 0
