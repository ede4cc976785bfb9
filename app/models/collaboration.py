"""Working together in the inbox: comments on an instance or one of its tasks, and the inbox
filters a user saved under a name."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.accounts import User
from app.models.base import Base, UTCDateTime, utcnow

COMMENT_MAX_LENGTH = 2000
FILTER_NAME_MAX_LENGTH = 100
FILTER_QUERY_MAX_LENGTH = 500


class Comment(Base):
    """A remark by a user on a case (``task_id`` NULL) or on one step of it. Never edited."""

    __tablename__ = "comment"
    __table_args__ = (
        Index("ix_comment_instance", "instance_id", "created_at", "id"),
        CheckConstraint(f"length(body) BETWEEN 1 AND {COMMENT_MAX_LENGTH}", name="body_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User] = relationship(lazy="joined")


class SavedFilter(Base):
    """A named set of inbox filters (the query string, e.g. ``status=mine&process=x``), seen
    and used by its owner only."""

    __tablename__ = "saved_filter"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(FILTER_NAME_MAX_LENGTH))
    query: Mapped[str] = mapped_column(String(FILTER_QUERY_MAX_LENGTH), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
