"""The audit log for the authority and administrators: filters, pages, and a CSV export
(UTF-8 with a byte-order mark, so that Excel shows the Chinese)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import AuditEvent, Organisation
from app.services import audit
from app.services.clock import LOCAL_TZ, clock
from app.web.auth import current
from app.web.params import query_date, query_int

bp = Blueprint("audit_pages", __name__)
PER_PAGE = 50
MAX_PAGE = 10_000
CSV_COLUMNS = ("seq", "at", "actor", "action", "organisation_code", "organisation", "instance_id", "business_key",
               "task_id", "payload", "hash")
# A cell starting with one of these is a formula to a spreadsheet (CSV injection): such
# cells get a leading apostrophe, which Excel and LibreOffice show as plain text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
Batches = Iterator[tuple[list[AuditEvent], dict[int, Organisation], dict[int, str]]]


# --- request parsing ---------------------------------------------------------------------

def _text(name: str, limit: int = 64) -> str | None:
    return request.args.get(name, "").strip()[:limit] or None


def _filters() -> audit.AuditFilters:
    return audit.AuditFilters(action=_text("action"), actor=_text("actor"), org_id=query_int("org"),
                              instance_id=query_int("instance"), date_from=query_date("from"), date_to=query_date("to"))


# --- pages -------------------------------------------------------------------------------

@bp.get("/audit")
@login_required
def index() -> Any:
    user = current()
    audit.require_reader(user)
    result = audit.search(db.session, user, _filters(), page=query_int("page", 1, MAX_PAGE) or 1, per_page=PER_PAGE)
    actions, orgs = audit.filter_choices(db.session)
    params = {k: v for k, v in request.args.items() if k != "page"}  # the filters, for links
    return render_template("audit.html", result=result, args=request.args, params=params, actions=actions,
                           orgs=orgs, payload_text=_payload_text)


@bp.post("/audit/verify")
@login_required
def verify() -> Any:
    """Check the whole chain now; the answer comes back to the log's page as a message."""
    report = audit.verify_for(db.session, current())
    db.session.commit()
    if report.ok:
        flash(_("The audit chain is intact: all %(count)s entries were checked.", count=report.checked), "success")
    else:
        flash(_("The audit chain is broken at entry %(seq)s: %(problem)s. The %(count)s entries before it hold. "
                "Keep the database as it is and tell the security officer.", seq=report.broken_seq,
                problem=_problem_text(report.problem), count=report.checked), "error")
    return redirect(url_for("audit_pages.index"))


def _problem_text(problem: str | None) -> str:
    texts = {"missing": _("the entry is missing"), "link": _("its link to the entry before it does not match"),
             "content": _("its content does not match its hash"),
             "truncated": _("the entries after it were removed")}
    return texts.get(problem or "", problem or "")


@bp.get("/audit.csv")
@login_required
def export() -> Any:
    user = current()
    filters = _filters()
    batches = audit.export_batches(db.session, user, filters)  # refuses before anything is sent
    audit.record_export(db.session, user, filters)
    db.session.commit()
    stamp = clock.now().astimezone(LOCAL_TZ).strftime("%Y%m%d-%H%M")
    return Response(stream_with_context(_csv(batches, db.session)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="grantflow-audit-{stamp}.csv"',
                             "Cache-Control": "private, no-store"})


def _csv(batches: Batches, session: Session) -> Iterator[str]:
    """The CSV, one chunk per batch. ``session`` is the one the batches read with: the
    request's, which outlives the view while the response streams, so it is closed here."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + buffer.getvalue()
    try:
        yield from _csv_batches(batches, session, buffer, writer)
    finally:
        session.close()


def _csv_batches(batches: Batches, session: Session, buffer: io.StringIO, writer: Any) -> Iterator[str]:
    for events, orgs, keys in batches:
        buffer.seek(0)
        buffer.truncate()
        for e in events:
            org = orgs.get(e.org_id) if e.org_id is not None else None
            writer.writerow([_cell(v) for v in (
                e.seq, e.at.astimezone(LOCAL_TZ).isoformat(timespec="seconds"), e.actor, e.action,
                org.code if org else "", org.name if org else "", e.instance_id or "",
                keys.get(e.instance_id, "") if e.instance_id is not None else "", e.task_id or "",
                json.dumps(e.payload, ensure_ascii=False, sort_keys=True), e.hash)])
        # End the read transaction while the client downloads: on SQLite every transaction
        # holds the write lock, which a slow download must not keep from other requests.
        session.rollback()
        yield buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _payload_text(payload: dict[str, Any], limit: int = 240) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "…"
