"""The errors every use case may raise; entrypoints map them to exit codes and HTTP statuses."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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
    """Base of all refusals: the request was understood and turned down, nothing changed.

    `code` is a stable name the entrypoints translate (the web layer shows the people's language); `params` are
    the values such a translation may quote. The English message stays the detail for logs, the CLI and the API.
    """

    http_status = 400
    code = "refused"

    def __init__(self, message: str = "", *, code: str | None = None, params: dict[str, Any] | None = None):
        super().__init__(message)
        if code:
            self.code = code
        self.params: dict[str, Any] = dict(params or {})

    @property
    def detail(self) -> str:
        """The English message, as the engine worded it."""
        return str(self)


class InvalidInput(OneWindowError):
    """Input that breaks a rule: bad form data, malformed document, unknown reference."""

    http_status = 422
    code = "invalid_input"

    def __init__(self, message: str, findings: list[Finding] | None = None, fields: dict[str, str] | None = None,
                 *, code: str | None = None, params: dict[str, Any] | None = None):
        super().__init__(message, code=code, params=params)
        self.findings = findings or []
        self.fields = fields or {}


class NotFound(OneWindowError):
    """The named case, task, item or user does not exist (or is not visible to the actor)."""

    http_status = 404
    code = "not_found"


class Forbidden(OneWindowError):
    """The actor may not do this."""

    http_status = 403
    code = "forbidden"


class Conflict(OneWindowError):
    """The request lost a race or does not fit the current state (stale row_version, task no longer READY)."""

    http_status = 409
    code = "conflict"
