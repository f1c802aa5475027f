"""The command line for reassignment, contact corrections and complaints: --json and exit codes 0 / 1 / 2."""
from __future__ import annotations

import json

import pytest

from engine.services import portal
from tests.audit.case_admin import footprint, last_event, staff  # noqa: F401 (a fixture)
from tests.audit.test_cli import run
from tests.integration.helpers import accepted_ad_case, only_task

# Every test here also needs the second reviewer and the market bureau's head.
pytestmark = pytest.mark.usefixtures("staff")


def test_reassign_edit_contact_and_team_from_the_shell(ow, db_url):
    case_no = accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", case_no)
    code, out = run("team", "--as", "head1", "--json", "--db", db_url)
    assert code == 0 and task_id in {r["task_id"] for r in json.loads(out)}
    before = footprint(ow, case_no)
    code, out = run("reassign", task_id, "--to", "market_reviewer", "--reason", "别的局", "--as", "head1",
                    "--json", "--db", db_url)
    assert code == 1 and json.loads(out)["kind"] == "InvalidInput" and footprint(ow, case_no) == before
    code, out = run("reassign", task_id, "--to", "reviewer2", "--reason", "病假", "--as", "head1", "--json",
                    "--db", db_url)
    assert code == 0 and json.loads(out)["to"] == "reviewer2"
    with pytest.raises(SystemExit) as usage:
        run("reassign", task_id, "--to", "reviewer2", "--as", "head1", "--db", db_url)  # no --reason
    assert usage.value.code == 2
    code, out = run("edit-contact", case_no, "--phone", "0571-87000000", "--contact-name", "张联系",
                    "--reason", "来电更正", "--as", "head1", "--json", "--db", db_url)
    assert code == 0 and json.loads(out)["after"] == {"phone": "0571-87000000", "contact_name": "张联系"}
    code, _ = run("edit-contact", case_no, "--phone", "0571-1", "--reason", "格式", "--as", "head1", "--db", db_url)
    assert code == 1 and last_event(ow, case_no)["type"] == "administrative_edit"


def test_complaints_from_the_shell(ow, db_url):
    case_no = accepted_ad_case(ow)
    complaint_id = portal.complain(ow, case_no, "窗口没有一次性告知所缺材料", username="zhangsan")["complaint_id"]
    code, out = run("complaint", "list", "--as", "auditor1", "--json", "--db", db_url)
    assert code == 0 and [c["complaint_id"] for c in json.loads(out)] == [complaint_id]
    code, out = run("complaint", "advance", str(complaint_id), "--to", "answered", "--text", "跳过",
                    "--as", "supervisor1", "--json", "--db", db_url)
    assert code == 1 and json.loads(out)["kind"] == "Conflict"
    code, out = run("complaint", "advance", str(complaint_id), "--to", "investigated", "--text", "调查中",
                    "--as", "supervisor1", "--json", "--db", db_url)
    assert code == 0 and json.loads(out)["to"] == "investigated"
    with pytest.raises(SystemExit) as usage:
        run("complaint", "advance", str(complaint_id), "--to", "closed", "--text", "x", "--as", "supervisor1")
    assert usage.value.code == 2
    code, _ = run("audit", "verify", "--case", case_no, "--db", db_url)
    assert code == 0
