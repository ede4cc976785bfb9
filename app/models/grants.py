"""Grants of catalogue data to partners (Art. 19-20, 27), registered data products (Art. 21),
and network-log retention after a termination (Art. 16)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.accounts import Organisation
from app.models.base import Base, UTCDateTime, utcnow
from app.models.catalog import CatalogItem

PURPOSES = ("public_governance", "public_welfare", "industry_development")
FEE_REGIMES = ("free", "paid")

grant_item = Table(
    "grant_item",
    Base.metadata,
    Column("grant_id", ForeignKey("data_grant.id", ondelete="CASCADE"), primary_key=True),
    Column("catalog_item_id", ForeignKey("catalog_item.id"), primary_key=True),
)


class Grant(Base):
    """A partner's authorization to use catalogue items for one purpose, until it expires."""

    __tablename__ = "data_grant"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreement.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    fee_regime: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(Text, default="")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(String(300))

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    items: Mapped[list[CatalogItem]] = relationship(secondary=grant_item, lazy="selectin", order_by=CatalogItem.code)

    def status_at(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        if self.suspended_at is not None:
            return "suspended"
        return "active"


class DataProduct(Base):
    """A data product or service registered and filed after its compliance review (Art. 21)."""

    __tablename__ = "data_product"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="product")
    registration_no: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="registered")
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LogRetention(Base):
    """Network logs that must be kept until ``retain_until`` (≥ 6 months, Art. 16)."""

    __tablename__ = "log_retention"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreement.id"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    reason: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retain_until: Mapped[datetime] = mapped_column(UTCDateTime())


class SchedulerLease(Base):
    """Who runs the scheduler: one row per lease name, held until ``expires_at``."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
