"""Generated documents (PDF): one immutable row per signed file, and the numbering series."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.accounts import Organisation
from app.models.base import Base, JSONType, UTCDateTime, utcnow

DOCUMENT_KINDS = (
    "operation_agreement",
    "service_agreement",
    "compliance_report",
    "evaluation_opinion",
    "filing_certificate",
    "rectification_order",
    "termination_notice",
)


class Document(Base):
    """A signed PDF as issued. Never updated nor deleted (the database refuses both): a
    corrected document is a new row with ``version`` + 1 naming the one it ``supersedes``."""

    __tablename__ = "document"
    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in DOCUMENT_KINDS)})", name="kind"),
        CheckConstraint("version >= 1", name="version"),
        Index("ix_document_kind_created", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Unique: a document is superseded at most once, so versions form a chain.
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("document.id"), unique=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # of the signed PDF as stored
    verification_code: Mapped[str] = mapped_column(String(16), unique=True)
    template_version: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    articles: Mapped[list[str]] = mapped_column(JSONType, default=list)

    organisation: Mapped[Organisation | None] = relationship(lazy="joined")
    supersedes: Mapped[Document | None] = relationship(remote_side=[id], lazy="select")


class DocumentSequence(Base):
    """The last document number issued in a year; updating the row serialises numbering."""

    __tablename__ = "document_sequence"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)
