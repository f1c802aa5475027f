"""Shared set-up of the case-administration tests: two more staff, and a case's footprint to compare."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import services
from engine.bootstrap import OneWindow
from engine.store.models import Case, CaseEvent
from engine.store.uow import reading
from tests.conftest import DEMO_PASSWORD

EXTRA_STAFF = """
[[users]]
username = "reviewer2"
display_name = "钱审查"
department = "city-urban"
groups = ["reviewer"]

[[users]]
username = "market_head"
display_name = "吴局长"
department = "city-market"
groups = ["dept_head"]
"""


@pytest.fixture
def staff(ow, tmp_path: Path) -> OneWindow:
    """The demo organisation plus a second urban-management reviewer and the market bureau's head."""
    path = tmp_path / "extra-staff.toml"
    path.write_text(EXTRA_STAFF, encoding="utf-8")
    services.load_organisation(ow, path, DEMO_PASSWORD)
    return ow


def footprint(ow: OneWindow, case_no: str) -> tuple[int, int, str]:
    """What any change to a case moves: its row version, its event count and its chain head."""
    with reading(ow.db) as s:
        case = s.scalar(select(Case).where(Case.case_no == case_no))
        events = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id))
        return case.row_version, events, case.last_hash


def last_event(ow: OneWindow, case_no: str) -> dict:
    """The newest event of a case."""
    return services.history(ow, case_no)[-1]
