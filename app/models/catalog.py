"""Public data catalogue items (公共数据资源目录)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.accounts import Organisation
from app.models.base import Base, UTCDateTime, utcnow

CLASSIFICATIONS = ("unconditional", "conditional", "not_open")


class CatalogItem(Base):
    __tablename__ = "catalog_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    classification: Mapped[str] = mapped_column(String(16))
    grade: Mapped[str] = mapped_column(String(16), default="")
    source_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    source_org: Mapped[Organisation] = relationship(lazy="joined")
