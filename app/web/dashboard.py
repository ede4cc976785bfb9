"""The dashboard of the authority and the operator (page and JSON)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_login import login_required

from app.extensions import csrf, db
from app.services import dashboard
from app.web.api import me_user, token_required
from app.web.auth import current

bp = Blueprint("dashboard", __name__)
api_bp = Blueprint("dashboard_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)

STATUSES = ("running", "completed", "cancelled", "error")


@bp.app_template_global()
def status_label(status: str) -> str:
    return {"running": _("Running"), "completed": _("Completed"), "cancelled": _("Cancelled"),
            "error": _("Error")}.get(status, status)


@bp.app_template_global()
def expiring_label(kind: str) -> str:
    return {"operation_agreement": _("Operation agreement"), "service_agreement": _("Service agreement"),
            "grant": _("Data grant")}.get(kind, kind)


@bp.get("/dashboard")
@login_required
def index() -> Any:
    board = dashboard.build(db.session, current())
    statuses = [s for s in STATUSES if any(s in v for v in board.by_process.values())]
    statuses += sorted({s for v in board.by_process.values() for s in v} - set(statuses))
    largest = max([sum(v.values()) for v in board.by_process.values()] + [1])
    overdue_max = max([c.value for c in board.overdue_by_unit] + [1])
    step_max = max([s.median_hours for s in board.step_times] + [0.01])
    return render_template("dashboard.html", board=board, statuses=statuses, largest=largest,
                           overdue_max=overdue_max, step_max=step_max)


@api_bp.get("/dashboard")
@token_required
def api_index() -> Any:
    return dashboard.build(db.session, me_user()).as_dict()
