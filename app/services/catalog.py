"""The public data catalogue."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import CatalogItem


def list_items(session: Session, *, classification: str | None = None) -> list[CatalogItem]:
    """Every catalogue item, by code; optionally one classification only."""
    query = select(CatalogItem).order_by(CatalogItem.code)
    if classification:
        query = query.where(CatalogItem.classification == classification)
    return list(session.execute(query).scalars())
