"""Thresholds of the supervision ladder and the sweeper, with defaults; a centre overrides them in TOML.

    [clock]
    warn_ratio = 0.8            # warning when this share of the budget is used ...
    warn_remaining_days = 1     # ... or when this many working days remain, whichever comes first
    urging_days = 2             # the urging notice (催办通知书) must be answered within these working days
    sweep_batch = 100           # due stages claimed per sweep transaction
    heartbeat_seconds = 30      # APScheduler interval of the sweeper
    bad_review_rectify_days = 15   # a bad review (差评) is verified, rectified and answered within these working days
    complaint_reply_days = 15      # an efficiency complaint (效能投诉) is answered within these working days of filing

The file is named by ONEWINDOW_CLOCK_SETTINGS (default: instance/clock.toml when it exists).
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

from engine.errors import InvalidInput
from engine.store.db import PROJECT_ROOT

SETTINGS_ENV = "ONEWINDOW_CLOCK_SETTINGS"
DEFAULT_PATH = PROJECT_ROOT / "instance" / "clock.toml"


@dataclass(frozen=True)
class ClockSettings:
    """Ladder thresholds, sweeper tuning and the supervision reply limits (local rules, hence settings)."""

    warn_ratio: float = 0.8
    warn_remaining_days: int = 1
    urging_days: int = 2
    sweep_batch: int = 100
    heartbeat_seconds: float = 30.0
    # 国办发〔2019〕51号 gives 15 working days for a bad review; centres set their own complaint limit.
    bad_review_rectify_days: int = 15
    complaint_reply_days: int = 15

    def __post_init__(self) -> None:
        if not 0 < self.warn_ratio <= 1:
            raise InvalidInput(f"clock.warn_ratio must be in (0, 1], got {self.warn_ratio}")
        if self.warn_remaining_days < 0 or self.urging_days < 1 or self.sweep_batch < 1 or self.heartbeat_seconds <= 0:
            raise InvalidInput("clock settings: warn_remaining_days >= 0, urging_days >= 1, sweep_batch >= 1 "
                               "and heartbeat_seconds > 0 are required")
        if self.bad_review_rectify_days < 1 or self.complaint_reply_days < 1:
            raise InvalidInput("clock settings: bad_review_rectify_days and complaint_reply_days are at least 1 "
                               "working day")


def parse_settings(text: str, source: str) -> ClockSettings:
    """Read the `[clock]` table of a TOML text; unknown keys are refused so a typo cannot go unnoticed."""
    try:
        table = tomllib.loads(text).get("clock", {})
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{source}: malformed TOML: {exc}") from None
    known = {f.name for f in fields(ClockSettings)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise InvalidInput(f"{source}: unknown clock setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return ClockSettings(**table)


@cache
def load_settings() -> ClockSettings:
    """The centre's clock settings (read once per process), or the defaults when no file is configured."""
    path = Path(os.environ.get(SETTINGS_ENV) or DEFAULT_PATH)
    if not path.is_file():
        if os.environ.get(SETTINGS_ENV):
            raise InvalidInput(f"{SETTINGS_ENV} names {path}, which does not exist")
        return ClockSettings()
    return parse_settings(path.read_text(encoding="utf-8"), str(path))
