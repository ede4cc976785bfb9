"""Per-process start rules that depend on the regime, beyond the diagram's start roles."""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Agreement, ProcessInstance, User
from app.services.clock import clock

RENEWAL_WINDOW_MONTHS = 6  # Art. 15


def renewal_window(valid_until: date) -> tuple[date, date]:
    """The days on which a renewal may be requested: the 6 months before expiry (Art. 15)."""
    month = valid_until.month - RENEWAL_WINDOW_MONTHS
    year = valid_until.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    try:
        opens = valid_until.replace(year=year, month=month)
    except ValueError:  # e.g. 31 August -> 28/29/30 February
        opens = (valid_until.replace(year=year, month=month % 12 + 1, day=1) - timedelta(days=1))
    return opens, valid_until


def _running(session: Session, process_key: str, org_id: int) -> bool:
    return session.execute(
        select(ProcessInstance.id).where(ProcessInstance.process_key == process_key, ProcessInstance.org_id == org_id,
                                         ProcessInstance.status == "running").limit(1)
    ).scalar_one_or_none() is not None


def start_refusal(session: Session, user: User, process_key: str) -> str | None:
    """Why ``user`` may not start ``process_key`` now, or None if they may."""
    org = user.organisation
    if process_key == "partner_onboarding":
        if org.kind == "partner" and org.status == "active":
            return _("Your organisation is already an active partner.")
        if _running(session, process_key, org.id):
            return _("Your organisation already has an onboarding application in progress.")
        return None
    if process_key == "operator_selection":
        if org.kind == "operator" and org.status == "active":
            return _("Your organisation is already the authorized operator.")
        if _running(session, process_key, org.id):
            return _("Your organisation already has an application in progress.")
        return None
    if process_key == "agreement_renewal":
        return _renewal_refusal(session, user)
    if process_key == "agreement_termination":
        return _termination_refusal(session)
    if "partner" in user.roles and not user.roles - {"partner"} and org.status != "active":
        return _("Your organisation is not an active partner yet.")
    if process_key == "partner_exit" and _running(session, process_key, org.id):
        return _("Your organisation already has an exit in progress.")
    return None


def _renewal_refusal(session: Session, user: User) -> str | None:
    agreement = session.execute(
        select(Agreement).where(Agreement.org_id == user.org_id, Agreement.kind == "operation",
                                Agreement.status == "active").order_by(Agreement.valid_until.desc()).limit(1)
    ).scalar_one_or_none()
    if agreement is None:
        return _("Your organisation has no operation agreement to renew.")
    opens, closes = renewal_window(agreement.valid_until)
    today = clock.now().date()
    if not opens <= today <= closes:
        return _("Renewal may be requested only from %(opens)s to %(closes)s, the 6 months before agreement "
                 "%(number)s expires (Art. 15).", opens=opens.isoformat(), closes=closes.isoformat(),
                 number=agreement.number)
    if _running(session, "agreement_renewal", user.org_id):
        return _("A renewal is already in progress.")
    return None


def _termination_refusal(session: Session) -> str | None:
    """Art. 16: there must be an operation agreement in force, and no termination under way."""
    active = session.execute(
        select(Agreement.id).where(Agreement.kind == "operation", Agreement.status == "active").limit(1)
    ).scalar_one_or_none()
    if active is None:
        return _("No operation agreement is in force; there is nothing to terminate.")
    running = session.execute(
        select(ProcessInstance.id).where(ProcessInstance.process_key == "agreement_termination",
                                         ProcessInstance.status == "running").limit(1)
    ).scalar_one_or_none()
    if running is not None:
        return _("A termination is already in progress.")
    return None
