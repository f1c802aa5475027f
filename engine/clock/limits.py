"""Time limits as written in manifests and BPMN properties: `15wd`, `30d`, `P5D`, `PT4H`.

A budget is an amount and a unit: working days (`wd`, the legal default), calendar days (`d`, a period
ending on a rest day moves to the next working day) or hours (`h`, wall-clock, for short internal steps).

An item whose limits depend on the application names one field of its application form in a
`[limit_variants]` table; each listed value of that field sets its own statutory and promised limits
(`[limit_variants.values.<value>]`), and any other value keeps the item's own.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from engine.errors import InvalidInput

_LIMIT_RE = re.compile(r"^\s*(?:(\d+)(wd|d)|P(\d+)D|PT(\d+)H)\s*$")
# Art. 42: 20 working days (+10), joint / centralised handling 45 (+15); art. 43: a report-up leg 20.
DEFAULT_STATUTORY = {"joint": "45wd", "ordinary": "20wd"}
DEFAULT_EXTENSION = {"joint": "15wd", "ordinary": "10wd"}
REPORT_UP_LEG = "20wd"
INTAKE_LIMIT = "5wd"
# What a limit variant may set: the extension cap and the correction reply limit stay the item's.
VARIANT_KEYS = ("statutory_limit", "promised_limit")


class Budget(NamedTuple):
    """How long a clock runs: `amount` of `unit` (wd, d or h)."""

    amount: int
    unit: str


def parse_budget(text: str) -> Budget:
    """Parse `3wd`, `30d`, `P5D` or `PT4H`; InvalidInput names the bad text."""
    m = _LIMIT_RE.match(str(text))
    if not m:
        raise InvalidInput(f"limit '{text}' must be working days (3wd), calendar days (30d or P5D) or hours (PT4H)")
    if m.group(1):
        return Budget(int(m.group(1)), m.group(2))
    return Budget(int(m.group(3)), "d") if m.group(3) else Budget(int(m.group(4)), "h")


def _pattern(manifest: dict[str, Any]) -> str:
    return "joint" if manifest.get("pattern") == "joint" or manifest.get("joint") else "ordinary"


class CaseLimits(NamedTuple):
    """The limits of an item as its manifest states them, with the statutory defaults filled in."""

    statutory: Budget
    promised: Budget
    extension_days: int
    correction_reply: Budget | None


def with_variant(manifest: dict[str, Any], application: Mapping[str, Any] | None) -> dict[str, Any]:
    """The manifest with the limits its `limit_variants` table sets for the application's value of its field."""
    table = manifest.get("limit_variants")
    value = None if not table or application is None else application.get(table["field"])
    # Forms are read live, not published with the item: a value the variants cannot name keeps the item's limits.
    if not isinstance(value, str):
        return manifest
    return {**manifest, **table["values"].get(value, {})}


def case_limits(manifest: dict[str, Any], *, application: Mapping[str, Any] | None = None) -> CaseLimits:
    """Statutory and promised limits, the extension cap and the correction reply limit of an item's case.

    `application` is the case's form data: without it an item with limit variants gives its own limits.
    """
    manifest = with_variant(manifest, application)
    pattern = _pattern(manifest)
    statutory = parse_budget(manifest.get("statutory_limit") or DEFAULT_STATUTORY[pattern])
    promised = parse_budget(manifest.get("promised_limit") or manifest.get("statutory_limit")
                            or DEFAULT_STATUTORY[pattern])
    extension = parse_budget(manifest.get("extension_limit") or DEFAULT_EXTENSION[pattern])
    reply = manifest.get("correction_reply_limit")
    return CaseLimits(statutory, promised, extension.amount, parse_budget(reply) if reply else None)


def step_budget(properties: dict[str, Any]) -> Budget | None:
    """The step limit of a task from its `limit` property; a report-up leg without one gets 20 wd."""
    if properties.get("limit"):
        return parse_budget(properties["limit"])
    if properties.get("leg") == "report-up":
        return parse_budget(REPORT_UP_LEG)
    return None
