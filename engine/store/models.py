"""SQLAlchemy 2 typed models: the tables OneWindow keeps (see DESIGN.md, Storage)."""
from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for tables that grow without bound.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on both databases (SQLite would otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware UTC time")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every OneWindow table."""


class Department(Base):
    """An organ or one of its sections, at an organisation level (city → county → town → village)."""

    __tablename__ = "department"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))


class User(Base):
    """A person who signs in: applicant, proxy agent, clerk, reviewer, supervisor, auditor, designer, admin."""

    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    is_absent: Mapped[bool] = mapped_column(Boolean, default=False)
    # Indexed: every request looks up the absent holders whose backup post (AB岗) the acting user is.
    backup_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class UserGroup(Base):
    """Membership of a user in a role or candidate group (`window`, `reviewer`, `auditor` …)."""

    __tablename__ = "user_group"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    group_code: Mapped[str] = mapped_column(String(64), primary_key=True)


class ProcessVersion(Base):
    """An immutable published version of an item: BPMN, service guide and the parsed spec, stored once."""

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("item_code", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    item_code: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    process_id: Mapped[str] = mapped_column(String(128))
    # The large columns load only when asked for: applying for an item needs the manifest, not the XML.
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    extra_bpmn: Mapped[dict] = mapped_column(JSON, default=dict, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64))
    manifest: Mapped[dict] = mapped_column(JSON)
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)
    spiff_version: Mapped[str] = mapped_column(String(32))
    serializer_version: Mapped[str] = mapped_column(String(16))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deployed_by: Mapped[str] = mapped_column(String(64))


class Case(Base):
    """One application (办件) and its workflow state, without the spec."""

    __tablename__ = "case"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(64), unique=True)
    lookup_code: Mapped[str] = mapped_column(String(16))
    item_code: Mapped[str] = mapped_column(String(64), index=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    applicant: Mapped[dict] = mapped_column(JSON)
    applicant_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    proxy_agent_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    first_contact_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32), index=True)
    result: Mapped[str | None] = mapped_column(String(32))
    form_data: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state_json: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(16))
    # engine.runtime's state formats, set when the case is opened; cases stored before formats existed read 1
    # (ENGINE_JSON), and so keep verifying.
    state_format: Mapped[int] = mapped_column(Integer, server_default="1")
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="")
    row_version: Mapped[int] = mapped_column(Integer, nullable=False)

    # A stale write (another clerk saved first) raises StaleDataError instead of overwriting.
    __mapper_args__ = {"version_id_col": row_version}


class CaseEvent(Base):
    """Append-only, hash-chained history: one row per mutation of a case."""

    __tablename__ = "case_event"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(64))
    acting_for: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    state_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class WorkItem(Base):
    """Inbox projection of one READY manual task; closed rows stay for history and figures."""

    __tablename__ = "work_item"
    __table_args__ = (
        Index("ix_work_item_case_open", "case_id", "is_open"),
        Index("ix_work_item_assignee_open_due", "assignee", "is_open", "due_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    task_id: Mapped[str] = mapped_column(String(36), unique=True)
    bpmn_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    form_key: Mapped[str | None] = mapped_column(String(128))
    candidate_groups: Mapped[str] = mapped_column(String(400), default="")
    assignee: Mapped[str | None] = mapped_column(String(64))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    card_level: Mapped[str] = mapped_column(String(16), default="none")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(64))
    # Saved in the same flush as the item, so projecting a new task costs no extra round trip for its id.
    groups: Mapped[list[WorkItemGroup]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class WorkItemGroup(Base):
    """One candidate group of an open work item, denormalised so a group inbox is an index seek."""

    __tablename__ = "work_item_group"
    __table_args__ = (Index("ix_work_item_group_inbox", "group_code", "department_id", "due_key", "work_item_id"),)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_item.id", ondelete="CASCADE"), primary_key=True)
    group_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, default=0)
    # Sort key: due time as text, 'z' when there is no deadline, so undated work sorts last on both databases.
    due_key: Mapped[str] = mapped_column(String(32))


class Deadline(Base):
    """A case, step, intake or timer clock: budget in working days, pauses, due time and ladder stage."""

    __tablename__ = "deadline"
    __table_args__ = (Index("ix_deadline_next_fire", "next_fire_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[str | None] = mapped_column(String(36))
    bpmn_id: Mapped[str | None] = mapped_column(String(128))
    rule: Mapped[str | None] = mapped_column(String(32))
    ladder: Mapped[str] = mapped_column(String(32), default="default")
    budget_days: Mapped[int] = mapped_column(Integer, default=0)
    budget_unit: Mapped[str] = mapped_column(String(8), default="wd")
    extended_days: Mapped[int] = mapped_column(Integer, default=0)
    paused_days: Mapped[int] = mapped_column(Integer, default=0)
    started_on: Mapped[date] = mapped_column(Date)
    paused_since: Mapped[date | None] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stage: Mapped[str] = mapped_column(String(16), default="running")
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    calendar_version: Mapped[int] = mapped_column(Integer, default=1)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CalendarDay(Base):
    """A day that breaks the weekday rule: a weekday holiday or a make-up working weekend (调休)."""

    __tablename__ = "calendar_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_working: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)


class CalendarMeta(Base):
    """The calendar's version and the last year it is confirmed through (one row)."""

    __tablename__ = "calendar_meta"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    confirmed_through: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(Base):
    """A message to a person: warning, urging notice (催办通知书), escalation, notice to the applicant."""

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    deadline_id: Mapped[int | None] = mapped_column(ForeignKey("deadline.id"))
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    respond_by: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Opinion(Base):
    """A department's opinion on a case step, kept outside task data so no engine path can lose it."""

    __tablename__ = "opinion"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(128))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    handler: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())



# --- audit (电子监察): auditors' own trail, kept apart from case events so reading never alters a case's chain ---


class AuditRead(Base):
    """One look by an auditor or supervisor at a case's history, figures or exports (append-only)."""

    __tablename__ = "audit_read"
    __table_args__ = (Index("ix_audit_read_case", "case_no", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    username: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    case_no: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class AuditRun(Base):
    """One run of the history verification (hash chains + re-execution) and what it found."""

    __tablename__ = "audit_run"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    trigger: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str | None] = mapped_column(String(64))
    cases_checked: Mapped[int] = mapped_column(Integer)
    events_checked: Mapped[int] = mapped_column(Integer)
    problem_count: Mapped[int] = mapped_column(Integer)
    problems: Mapped[list] = mapped_column(JSON, default=list)


class CaseCheckpoint(Base):
    """The workflow state as saved after every 20th event: the as-of view starts from the nearest one.

    Trusted only when its hash equals the state hash its (hash-chained) event recorded.
    """

    __tablename__ = "case_checkpoint"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    seq: Mapped[int] = mapped_column(Integer)
    state_json: Mapped[str] = mapped_column(Text)


# --- web: API tokens, sign-in attempts, one-time form tokens, uploaded materials, ratings, complaints ---


class ApiToken(Base):
    """A per-user bearer token for /api/v1; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginAttempt(Base):
    """One sign-in attempt, kept so repeated failures for a user or address can be slowed down."""

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_user_at", "username", "at"), Index("ix_login_attempt_remote_at", "remote", "at"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    remote: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class FormToken(Base):
    """A one-time form token already used: a second submission of the same form is recognised and ignored."""

    __tablename__ = "form_token"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Upload(Base):
    """A material file handed in for a case, stored outside the web root under a random name."""

    __tablename__ = "upload"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    material: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(200))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Rating(Base):
    """The applicant's rating of a concluded case (好差评, five levels: 5 very satisfied … 1 very dissatisfied)."""

    __tablename__ = "rating"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), unique=True)
    level: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Complaint(Base):
    """An efficiency complaint (效能投诉) about a case: received → investigated → resolved → answered → archived."""

    __tablename__ = "complaint"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="received")
    filed_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- clock (issue 3): the pause ledger of a case's clocks -----------------------------------------------------


class ClockPause(Base):
    """One pause of a case's clocks: a correction request (补正) or a special procedure (特别程序)."""

    __tablename__ = "clock_pause"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    previous_status: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_on: Mapped[date] = mapped_column(Date)
    expected_days: Mapped[int | None] = mapped_column(Integer)
    opened_by: Mapped[str] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_days: Mapped[int | None] = mapped_column(Integer)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    # Set when a BPMN step marked `special` opened the pause: it ends when that step is completed, not by hand.
    task_id: Mapped[str | None] = mapped_column(String(64))


# --- patterns (issue 4): proxy mandates (代办), the materials checklist of a case, bundles (一件事) ---


class ProxyMandate(Base):
    """An applicant's recorded consent that a proxy agent (代办员) handles one item for them until a date."""

    __tablename__ = "proxy_mandate"
    __table_args__ = (Index("ix_proxy_mandate_agent_applicant", "agent_user_id", "applicant_user_id", "item_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    applicant_user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    agent_user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    item_code: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    consent: Mapped[dict] = mapped_column(JSON)
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    # pending → confirmed | declined; pending or confirmed → revoked. Only a confirmed mandate lets the agent act.
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_by: Mapped[str | None] = mapped_column(String(64))


class ProxyMandateEvent(Base):
    """Append-only trail of a mandate: its grant, confirmation, decline or revocation (who, when, details)."""

    __tablename__ = "proxy_mandate_event"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mandate_id: Mapped[int] = mapped_column(ForeignKey("proxy_mandate.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class CaseMaterial(Base):
    """One checklist material of a case that is not (yet) in order: missing, defective, or deferred (容缺)."""

    __tablename__ = "case_material"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    due_on: Mapped[date | None] = mapped_column(Date)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    supplied_by: Mapped[str | None] = mapped_column(String(64))
    supplied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CaseBundle(Base):
    """Membership of a case in a bundle (一件事): one intake and one form feeding parallel sub-cases."""

    __tablename__ = "case_bundle"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bundle_no: Mapped[str] = mapped_column(String(64), index=True)
    bundle_code: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), unique=True)
