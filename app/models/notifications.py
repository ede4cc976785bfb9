"""Notifications: in-app messages, the e-mail outbox, per-user preferences, and the marks
that make each task reminder go out once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, UTCDateTime, utcnow

# new task for me or my role; task due within a day; task overdue; my request decided;
# my organisation's agreement entered its renewal window.
NOTIFICATION_KINDS = ("task_new", "task_due_soon", "task_overdue", "request_decided", "agreement_expiring")
EMAIL_STATUSES = ("pending", "sent", "failed", "skipped")


class Notification(Base):
    """One message for one user. Title and body are rendered from ``kind`` and ``params`` in
    the reader's language when shown."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_read", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    link: Mapped[str | None] = mapped_column(String(300))  # a path inside the application
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EmailOutbox(Base):
    """An e-mail waiting to be sent (or sent, given up, skipped). Written in the transaction
    that caused it; a scheduler job sends it later and retries with a growing delay."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        Index("ix_email_outbox_due", "status", "next_attempt_at"),
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'skipped')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationPreference(Base):
    """A user's choice for one kind; no row means the defaults (in-app and e-mail on)."""

    __tablename__ = "notification_preference"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[bool] = mapped_column(Boolean, default=True)


class TaskNotice(Base):
    """That a task's audience was told it is overdue (due-soon uses ``human_task.reminded_at``),
    so that the scan tells them once."""

    __tablename__ = "task_notice"

    task_id: Mapped[str] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    noted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
