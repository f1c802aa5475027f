"""The pattern commands at the CLI: mandate, proxy apply, materials notice and supplement, bundles."""
from __future__ import annotations

import json

from engine.cli import main
from tests.patterns.helpers import ALLOWANCE


def run(capsys, db_url: str, *argv: str) -> tuple[int, object]:
    """Run one `onewindow … --json` command in-process; returns the exit code and the parsed output."""
    code = main([*argv, "--db", db_url, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_an_agent_works_a_case_from_the_command_line(ow, db_url, capsys):
    code, granted = run(capsys, db_url, "mandate", "grant", "--as", "agent1", "--applicant", "wangwu", "--agent",
                        "agent1", "--item", "min-living-allowance", "--from", "2026-01-01", "--until", "2099-12-31",
                        "--consent-method", "signed_form", "--consent-ref", "W-1")
    assert (code, granted["agent"]) == (0, "agent1")
    code, confirmed = run(capsys, db_url, "mandate", "confirm", str(granted["id"]), "--as", "wangwu")
    assert (code, confirmed["status"]) == (0, "confirmed")
    code, made = run(capsys, db_url, "proxy", "apply", "min-living-allowance", "--as", "agent1", "--for", "wangwu",
                     "--data", json.dumps(ALLOWANCE))
    case_no = made["case_no"]
    code, told = run(capsys, db_url, "materials", "notice", case_no, "--as", "town_window", "--received",
                     '["最低生活保障申请书", "家庭经济状况核对授权书"]')
    assert (code, told["status"]) == (0, "CORRECTION_REQUESTED")
    code, refused = run(capsys, db_url, "materials", "supplement", case_no, "--as", "agent2", "--materials",
                        '["家庭成员身份证和户口簿"]')
    assert (code, refused["kind"]) == (1, "Forbidden")
    code, back = run(capsys, db_url, "materials", "supplement", case_no, "--as", "agent1", "--materials",
                     '["家庭成员身份证和户口簿"]')
    assert (code, back["status"]) == (0, "RECEIVED")
    code, cases = run(capsys, db_url, "proxy", "cases", "--as", "agent1")
    assert [c["case_no"] for c in cases] == [case_no]
