"""Staff beyond the demo organisation that tests of department boundaries need."""
from __future__ import annotations

from pathlib import Path

from engine import services
from engine.bootstrap import OneWindow
from tests.conftest import DEMO_PASSWORD

# The market bureau's head: a department head whose department does not cover urban management's cases.
MARKET_HEAD = """
[[users]]
username = "market_head"
display_name = "吴局长"
department = "city-market"
groups = ["dept_head"]
"""


def add_staff(ow: OneWindow, folder: Path, toml: str = MARKET_HEAD) -> None:
    """Load more users (TOML in the organisation file's format) into the test database."""
    path = folder / "extra-staff.toml"
    path.write_text(toml, encoding="utf-8")
    services.load_organisation(ow, path, DEMO_PASSWORD)
