"""Per-process start rules that depend on the regime, beyond the diagram's start roles."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ProcessInstance, User


def start_refusal(session: Session, user: User, process_key: str) -> str | None:
    """Why ``user`` may not start ``process_key`` now, or None if they may."""
    org = user.organisation
    if process_key == "partner_onboarding":
        if org.kind == "partner" and org.status == "active":
            return _("Your organisation is already an active partner.")
        running = session.execute(
            select(ProcessInstance.id).where(
                ProcessInstance.process_key == "partner_onboarding",
                ProcessInstance.org_id == org.id,
                ProcessInstance.status == "running",
            ).limit(1)
        ).scalar_one_or_none()
        if running is not None:
            return _("Your organisation already has an onboarding application in progress.")
        return None
    if "partner" in user.roles and not user.roles - {"partner"} and org.status != "active":
        return _("Your organisation is not an active partner yet.")
    return None
