"""Catalogue entries that are not items: called processes (上级流程) and bundles (一件事), each versioned."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import Base, UTCDateTime

PROCESS, BUNDLE = "process", "bundle"


class CatalogueEntry(Base):
    """An immutable published version of a called process or a bundle.

    A called process is the higher authority's own process (e.g. the provincial commission's review) that
    lower items reach through a call activity: it carries its publishing department, and callers resolve it by
    process id. A bundle is the one form and intake of several items. Neither is applied for on its own, so
    they live apart from `process_version`, which lists what applicants can apply for.
    """

    __tablename__ = "catalogue_entry"
    __table_args__ = (UniqueConstraint("kind", "code", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    process_id: Mapped[str | None] = mapped_column(String(128), index=True)
    department: Mapped[str | None] = mapped_column(String(64))
    manifest: Mapped[dict] = mapped_column(JSON)
    bpmn_xml: Mapped[str | None] = mapped_column(Text, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deployed_by: Mapped[str] = mapped_column(String(64))
