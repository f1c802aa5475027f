"""Requests that wait for someone else's decision: an extension request (延期申请) waits for the department head."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import Base, BigId, UTCDateTime

# pending → approved (the extension is granted in the same transaction) or pending → declined.
# At most one pending request per case, even under a race.
OPEN_REQUEST = text("status = 'pending'")


class ExtensionRequest(Base):
    """The handling clerk's request for more working days on a case, and the department head's decision on it."""

    __tablename__ = "extension_request"
    __table_args__ = (
        Index("ix_extension_request_department_status", "department_id", "status"),
        Index("uq_extension_request_open_case", "case_id", unique=True,
              postgresql_where=OPEN_REQUEST, sqlite_where=OPEN_REQUEST),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by: Mapped[str] = mapped_column(String(64))
    acting_for: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str] = mapped_column(Text, default="")
