"""Forms drawn from forms/<key>.json: fields to render, and submitted text turned into typed values."""
from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

from engine.errors import InvalidInput

LONG_TEXT = 200
# What browsers and API clients send for a ticked box; an unticked box sends nothing at all.
TICKED = frozenset({"on", "1", "true", "yes"})


def fields(schema: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The fields of a form schema in order, with labels and choices in the UI language."""
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        label = prop.get("x-title-en", prop.get("title", name)) if lang == "en" else prop.get("title", name)
        labels = prop.get("x-enum-labels", {})
        choices = [(v, labels.get(v, {}).get("en" if lang == "en" else "zh", v)) for v in prop.get("enum", [])]
        kind = prop.get("type", "string")
        if choices:
            widget = "select"
        elif kind == "boolean":
            widget = "checkbox"
        elif kind in ("number", "integer"):
            widget = "number"
        elif kind == "array":
            widget = "lines"
        elif prop.get("format") == "date":
            widget = "date"
        elif prop.get("maxLength", 0) > LONG_TEXT:
            widget = "textarea"
        else:
            widget = "text"
        out.append({"name": name, "label": label, "widget": widget, "choices": choices,
                    "required": name in required, "step": "1" if kind == "integer" else "any",
                    "max_length": prop.get("maxLength")})
    return out


def typed(schema: dict[str, Any], form: MultiDict, prefix: str = "") -> dict[str, Any]:
    """Turn submitted text into the schema's types; blank fields are left out so `required` can speak."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, prop in schema.get("properties", {}).items():
        raw = form.get(prefix + name, "")
        kind = prop.get("type", "string")
        if kind == "boolean":
            # A checkbox always answers: unticked is a "no", not a blank the schema's `required` should catch.
            data[name] = raw.strip().lower() in TICKED
            continue
        if kind == "array":
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            if items:
                data[name] = items
            continue
        raw = raw.strip()
        if raw == "":
            continue
        try:
            data[name] = int(raw) if kind == "integer" else float(raw) if kind == "number" else raw
        except ValueError:
            errors[name] = "a whole number" if kind == "integer" else "a number"
    if errors:
        raise InvalidInput("some fields are not numbers", fields=errors)
    return data


def display(schema: dict[str, Any], data: dict[str, Any], lang: str) -> list[tuple[str, Any]]:
    """Submitted data as (label, value) pairs for reading, choices shown by their labels."""
    by_field = {f["name"]: f for f in fields(schema, lang)}
    out = []
    for name, value in data.items():
        f = by_field.get(name)
        if f is None:
            out.append((name, value))
            continue
        value = dict(f["choices"]).get(value, value) if f["choices"] else value
        if isinstance(value, bool):
            value = ("yes" if value else "no") if lang == "en" else ("是" if value else "否")
        out.append((f["label"], "、".join(map(str, value)) if isinstance(value, list) else value))
    return out
