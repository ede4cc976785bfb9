"""Saved versions of the forms (JSON Schema) that user tasks and start events name by key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.accounts import User
from app.models.base import Base, UTCDateTime, utcnow


class FormVersion(Base):
    """One version of a form, never changed afterwards: an edit is a new row with the next
    number. ``forms/<key>.json`` is seeded as a version when workflows are deployed."""

    __tablename__ = "form_version"
    __table_args__ = (
        UniqueConstraint("form_key", "version"),
        UniqueConstraint("form_key", "sha256"),
        CheckConstraint("version >= 1", name="version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    form_key: Mapped[str] = mapped_column(String(100))  # indexed by the unique (form_key, version)
    version: Mapped[int] = mapped_column(Integer)
    # Plain JSON, not JSONB: the order of the properties is the order the fields are shown in.
    schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))  # of the canonical JSON (app.services.form_versions)
    comment: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # None: seeded from forms/
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    created_by: Mapped[User | None] = relationship(lazy="joined")
