"""The errors every use case may raise; entrypoints map them to exit codes and HTTP statuses."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Finding:
    """One problem found in a designer's file, pointing at the model element."""

    code: str
    message: str
    file: str = ""
    line: int | None = None
    element_id: str | None = None
    hint: str = ""
    severity: str = "error"

    def as_dict(self) -> dict:
        """Return the finding as a JSON-ready dict."""
        return asdict(self)

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line:
            where += f":{self.line}"
        if self.element_id:
            where += f" [{self.element_id}]"
        text = f"{where}: {self.severity} {self.code}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class OneWindowError(Exception):
    """Base of all refusals: the request was understood and turned down, nothing changed."""

    http_status = 400


class InvalidInput(OneWindowError):
    """Input that breaks a rule: bad form data, malformed document, unknown reference."""

    http_status = 422

    def __init__(self, message: str, findings: list[Finding] | None = None, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.findings = findings or []
        self.fields = fields or {}


class NotFound(OneWindowError):
    """The named case, task, item or user does not exist (or is not visible to the actor)."""

    http_status = 404


class Forbidden(OneWindowError):
    """The actor may not do this."""

    http_status = 403


class Conflict(OneWindowError):
    """The request lost a race or does not fit the current state (stale row_version, task no longer READY)."""

    http_status = 409
