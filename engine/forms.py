"""Forms: one JSON Schema per form key in forms/, validated on the server before anything is stored."""
from __future__ import annotations

import json
import os
import stat
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from engine.errors import InvalidInput, NotFound

FORMS_DIR = Path(__file__).resolve().parents[1] / "forms"


class FormRegistry:
    """The form schemas of one forms folder, checked once when first used."""

    def __init__(self, folder: Path = FORMS_DIR):
        self.folder = folder

    def keys(self) -> set[str]:
        """Every form key available (file names without `.json`)."""
        return {p.stem for p in self.folder.glob("*.json")}

    def schema(self, key: str) -> dict[str, Any]:
        """Return the JSON Schema of a form key."""
        return _load(self.folder, key)[0]

    def clean(self, key: str | None, data: Any) -> dict[str, Any]:
        """Validate form data against its schema; return only declared fields, or raise with per-field errors."""
        if not isinstance(data, dict):
            raise InvalidInput("form data must be a JSON object", fields={"": "expected an object"})
        if key is None:
            if data:
                raise InvalidInput("this step has no form: it takes no data", fields={k: "not a field of this step" for k in data})
            return {}
        schema, validator = _load(self.folder, key)
        declared = schema.get("properties", {})
        fields = {name: "not a field of this form" for name in data if name not in declared}
        for error in validator.iter_errors(data):
            if error.validator == "required":
                # jsonschema words it "'name' is a required property"; the quoted part is the field.
                fields.setdefault(error.message.split("'")[1], "required")
            elif error.validator != "additionalProperties":
                fields.setdefault(".".join(str(p) for p in error.absolute_path) or "(form)", error.message)
        if fields:
            summary = "; ".join(f"{k or '(form)'}: {v}" for k, v in sorted(fields.items()))
            raise InvalidInput(f"form '{key}' is not valid: {summary}", fields=fields)
        return {k: v for k, v in data.items() if k in declared}


@lru_cache(maxsize=256)
def _load_cached(folder: str, key: str, mtime: float) -> tuple[dict[str, Any], Draft202012Validator]:
    path = Path(folder) / f"{key}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidInput(f"forms/{key}.json is not a valid JSON Schema: {exc.message}") from None
    # The validator is built once per version of the file, like the schema check.
    return schema, Draft202012Validator(schema)


def _load(folder: Path, key: str) -> tuple[dict[str, Any], Draft202012Validator]:
    if not key or "/" in key or "\\" in key or key.startswith("."):
        raise NotFound(f"no form '{key}'")
    # One stat per use: a designer's edit to the file shows on the next request.
    try:
        status = os.stat(folder / f"{key}.json")
    except OSError:
        status = None
    if status is None or not stat.S_ISREG(status.st_mode):
        raise NotFound(f"no form '{key}' (expected forms/{key}.json)")
    return _load_cached(str(folder), key, status.st_mtime)
