"""Deployed process definitions, running instances and the inbox's task rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.accounts import Organisation, User
from app.models.base import Base, JSONType, UTCDateTime, utcnow

INSTANCE_STATUSES = ("running", "completed", "cancelled", "error")
TASK_STATUSES = ("open", "completed", "cancelled")


class ProcessDefinition(Base):
    __tablename__ = "process_definition"
    __table_args__ = (
        UniqueConstraint("process_key", "version"),
        UniqueConstraint("process_key", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    # The two large columns load only when used (deferred): lists, inboxes and instance pages
    # never need them; a completion reads spec_json through processes.spec_json().
    source: Mapped[dict[str, str]] = mapped_column(JSONType, deferred=True)  # file name -> BPMN/DMN XML
    sha256: Mapped[str] = mapped_column(String(64))
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType)  # start form, roles, articles, tasks
    comment: Mapped[str] = mapped_column(String(500), default="")
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    __table_args__ = (
        Index("ix_process_instance_status_key", "status", "process_key"),
        # The timer poll: running instances whose next timer is due (status first, so that
        # SQLite does not pick the status index and read every running instance).
        Index("ix_process_instance_due", "status", "next_timer_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(100))
    business_key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="running")
    outcome: Mapped[str | None] = mapped_column(String(32))
    # Plain JSON, not JSONB: the engine's state is opaque and its key order is kept as written.
    # Deferred: only the engine needs it (loaded with the row lock before a run).
    state: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    state_version: Mapped[int] = mapped_column(Integer)
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # latest workflow data
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Loaded on first use (from the session's identity map when already there); queries that
    # need it for many rows say so with an eager-loading option.
    definition: Mapped[ProcessDefinition] = relationship(lazy="select")

    __mapper_args__ = {"version_id_col": lock_version}


class HumanTask(Base):
    """One inbox row per READY user task of the engine, kept in step after every run."""

    __tablename__ = "human_task"
    __table_args__ = (
        # Covers the inbox: its filter (status, role, organisation, assignee) and its order
        # (due, created, id), so the page's ids and the count never read the task rows.
        Index("ix_human_task_inbox", "status", "role", "candidate_org_id", "assignee_id", "due_at", "created_at",
              "id"),
        Index("ix_human_task_instance", "instance_id", "status"),
        Index("ix_human_task_completed_by", "completed_by_id", "completed_at"),
        # The form version the task was created with; NULL (no check) for a form kept only in forms/.
        ForeignKeyConstraint(["form_key", "form_version"], ["form_version.form_key", "form_version.version"]),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the engine task UUID
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    process_key: Mapped[str] = mapped_column(String(100))
    spec_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(32))
    candidate_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    form_key: Mapped[str | None] = mapped_column(String(100))
    form_version: Mapped[int | None] = mapped_column(Integer)
    articles: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # The process data shown with the task (about 1 KB): loaded when used, and with inbox rows.
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, deferred=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decision: Mapped[str | None] = mapped_column(String(32))
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Loaded on first use, not with every task row (a completion loads a task three times);
    # lists eager-load what they show (tasks.inbox, processes.open_tasks).
    instance: Mapped[ProcessInstance] = relationship(lazy="select")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="select")
    candidate_org: Mapped[Organisation | None] = relationship(foreign_keys=[candidate_org_id], lazy="select")
