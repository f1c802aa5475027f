"""Mandatory free texts (reasons, answers): stripped, bounded, refused with the field named."""
from __future__ import annotations

from engine.errors import InvalidInput


def required_text(value: str | None, field: str, low: int = 2, high: int = 500) -> str:
    """`value` without surrounding blanks, or InvalidInput on `field` when it is not `low`–`high` characters."""
    text = (value or "").strip()
    if not low <= len(text) <= high:
        raise InvalidInput(f"'{field}' is required: {low}–{high} characters", fields={field: f"{low}–{high} characters"})
    return text
