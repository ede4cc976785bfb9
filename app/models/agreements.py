"""Agreements: the operation agreement (Art. 15) and partners' service agreements (Art. 18, 20)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.accounts import Organisation
from app.models.base import Base, UTCDateTime, utcnow

AGREEMENT_KINDS = ("operation", "service")
AGREEMENT_STATUSES = ("active", "expired", "terminated")


class Agreement(Base):
    __tablename__ = "agreement"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    number: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    counterparty_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    signed_on: Mapped[date] = mapped_column(Date)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(Text, default="")
    fee_terms: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Set by the calendar when the renewal window opened / when expiry was handled.
    renewal_window_noted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expiry_handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship(foreign_keys=[org_id], lazy="joined")
