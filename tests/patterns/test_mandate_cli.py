"""`onewindow mandate confirm / decline` and the trail in `mandate list`: exit 0 done, 1 refused, 2 usage."""
from __future__ import annotations

import json

import pytest

from engine.cli import main
from tests.patterns.helpers import ALLOWANCE

GRANT = ("mandate", "grant", "--as", "agent1", "--applicant", "wangwu", "--agent", "agent1", "--item",
         "min-living-allowance", "--from", "2026-01-01", "--until", "2026-12-31", "--consent-method", "signed_form",
         "--consent-ref", "W-1")
APPLY = ("proxy", "apply", "min-living-allowance", "--as", "agent1", "--for", "wangwu", "--data", json.dumps(ALLOWANCE))


def run(capsys, db_url: str, *argv: str) -> tuple[int, object]:
    """Run one `onewindow … --json` command in-process; returns the exit code and the parsed output."""
    code = main([*argv, "--db", db_url, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_an_agents_mandate_works_from_the_command_line_once_the_applicant_confirms(ow, db_url, capsys):
    code, granted = run(capsys, db_url, *GRANT)
    assert (code, granted["status"]) == (0, "pending")
    mandate_id = str(granted["id"])
    code, refused = run(capsys, db_url, *APPLY)
    assert (code, refused["kind"]) == (1, "Forbidden") and "not confirmed yet" in refused["error"]
    code, refused = run(capsys, db_url, "mandate", "confirm", mandate_id, "--as", "agent1")
    assert (code, refused["kind"]) == (1, "Forbidden")
    code, confirmed = run(capsys, db_url, "mandate", "confirm", mandate_id, "--as", "wangwu")
    assert (code, confirmed["status"], confirmed["confirmed_by"]) == (0, "confirmed", "wangwu")
    code, made = run(capsys, db_url, *APPLY)
    assert code == 0 and made["case_no"]
    code, listed = run(capsys, db_url, "mandate", "list", "--as", "wangwu")
    assert [(e["action"], e["actor"]) for e in listed[0]["events"]] == [("granted", "agent1"), ("confirmed", "wangwu")]


def test_a_declined_mandate_at_the_command_line_and_a_usage_error(ow, db_url, capsys):
    code, granted = run(capsys, db_url, *GRANT)
    mandate_id = str(granted["id"])
    code, declined = run(capsys, db_url, "mandate", "decline", mandate_id, "--as", "wangwu", "--reason", "未委托")
    assert (code, declined["status"], declined["events"][-1]["detail"]) == (0, "declined", {"reason": "未委托"})
    code, refused = run(capsys, db_url, "mandate", "confirm", mandate_id, "--as", "town_window")
    assert (code, refused["kind"]) == (1, "Conflict")
    with pytest.raises(SystemExit) as usage:
        main(["mandate", "confirm", "--as", "wangwu", "--db", db_url])
    assert usage.value.code == 2
