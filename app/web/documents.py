"""Documents: the document officer's desk, downloads and previews, the public verification
page, and the JSON API under /api/v1/documents."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import login_required

from app.errors import FieldError, ValidationError
from app.extensions import csrf, db
from app.models import DOCUMENT_KINDS, Document, ProcessInstance, User
from app.services import documents, processes
from app.web.api import me_user, token_required
from app.web.auth import current
from app.web.i18n import lang
from app.web.openapi import MAX_PAGE
from app.web.params import query_date, query_int

bp = Blueprint("documents", __name__)
api_bp = Blueprint("documents_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)
PER_PAGE = 20

# Why a verification failed (codes from app.services.documents.verification).
REASONS: dict[str, Any] = {
    'malformed_code': lazy_gettext('That is not a verification code: 10 letters and digits (no 0, 1, I or O).'),
    'unknown_code': lazy_gettext('No document carries this code.'),
    'unknown_file': lazy_gettext('This file is not a document issued by the platform.'),
    'content_mismatch': lazy_gettext('This file claims to be the document below, but its content differs from the issued file (it was altered).'),
    'signature_invalid': lazy_gettext("The file's electronic signature is missing or invalid."),
    'stored_file_damaged': lazy_gettext("The platform's copy is missing or damaged; contact the document officer."),
}


def reason_text(reason: str | None) -> str:
    """Why a check failed, in the page's language."""
    return str(REASONS[reason]) if reason in REASONS else (reason or "")


def kind_title(kind: str) -> str:
    return documents.KINDS[kind].title(lang())


@bp.record_once
def _configure(state: BlueprintSetupState) -> None:
    documents.configure(state.app.config["GRANTFLOW"])


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"reason_text": reason_text, "kind_title": kind_title, "kinds": DOCUMENT_KINDS}


# --- request parsing ---------------------------------------------------------------------

def _filters() -> documents.DocumentFilters:
    kind = request.args.get("kind") or None
    if kind is not None and kind not in DOCUMENT_KINDS:
        raise ValidationError("bad query parameter", [FieldError("kind", f"must be one of {', '.join(DOCUMENT_KINDS)}")])
    return documents.DocumentFilters(
        kind=kind, process_key=request.args.get("process") or None, org_id=query_int("org"),
        instance_id=query_int("instance"), date_from=query_date("from"), date_to=query_date("to"))


def _pdf_response(document: Document, data: bytes) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{document.number}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- pages -------------------------------------------------------------------------------

@bp.get("/documents")
@login_required
def index() -> Any:
    user = current()
    page = query_int("page", 1, MAX_PAGE) or 1
    result = documents.list_documents(db.session, user, _filters(), page=page, per_page=PER_PAGE)
    process_keys, orgs = documents.filter_choices(db.session, user)
    return render_template("documents.html", result=result, args=request.args, process_keys=process_keys, orgs=orgs)


@bp.get("/documents/<int:document_id>")
@login_required
def detail(document_id: int) -> Any:
    document = documents.get_document(db.session, current(), document_id)
    return render_template("documents_detail.html", document=document,
                  versions=documents.versions(db.session, document),
                  verification=documents.verify_document(db.session, document))


@bp.get("/documents/<int:document_id>/download")
@login_required
def download(document_id: int) -> Any:
    return _downloaded(current(), document_id, "page")


@bp.get("/documents/<int:document_id>/preview.png")
@login_required
def preview(document_id: int) -> Any:
    png = documents.preview_png(db.session, current(), document_id)
    if png is None:
        return Response(status=404)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=86400"})


@bp.route("/documents/verify", methods=["GET", "POST"])
def verify() -> Any:
    """Public: anyone may check a code or a file (the form POST carries a CSRF token)."""
    result, error, code = None, None, ""
    if request.method == "POST":
        upload = request.files.get("file")
        data = upload.read() if upload is not None else b""
        code = request.form.get("code", "").strip()
        if data:
            result = documents.verify_pdf(db.session, data)
        elif code:
            result = documents.verify_code(db.session, code)
        else:
            error = _("Enter a code or choose a PDF file.")
    elif request.args.get("code"):
        code = request.args["code"].strip()
        result = documents.verify_code(db.session, code)
    return render_template("documents_verify.html", result=result, error=error, code=code), 422 if error else 200


# --- JSON API ----------------------------------------------------------------------------

def document_json(document: Document, superseded_by: str | None) -> dict[str, Any]:
    org = document.organisation
    return {
        "id": document.id, "number": document.number, "kind": document.kind,
        "kind_title": documents.KINDS[document.kind].title_zh, "version": document.version,
        "title": document.title, "instance_id": document.instance_id,
        "organisation": {"id": org.id, "code": org.code, "name": org.name} if org else None,
        "supersedes": document.supersedes.number if document.supersedes else None,
        "superseded_by": superseded_by, "articles": document.articles, "sha256": document.sha256,
        "verification_code": document.verification_code, "template_version": document.template_version,
        "size": document.size, "created_at": document.created_at.isoformat(),
        "links": {"file": url_for("documents_api.file", document_id=document.id),
                  "verify": url_for("documents_api.check", document_id=document.id)},
    }


@api_bp.get("/documents")
@token_required
def api_list() -> Any:
    page, per_page = query_int("page", 1, MAX_PAGE) or 1, query_int("per_page", PER_PAGE, 100) or PER_PAGE
    result = documents.list_documents(db.session, me_user(), _filters(), page=page, per_page=per_page)
    return {"items": [document_json(d, result.superseded_by.get(d.id)) for d in result.items],
            "total": result.total, "page": result.page, "per_page": result.per_page}


@api_bp.get("/instances/<int:instance_id>/documents")
@token_required
def api_instance_documents(instance_id: int) -> Any:
    """The documents of one instance the caller may see (404 when the instance is not theirs)."""
    user = me_user()
    sees_all = bool(user.roles & documents.ALL_DOCUMENTS_ROLES)
    if not (sees_all and db.session.get(ProcessInstance, instance_id) is not None):
        processes.get_instance(db.session, user, instance_id)  # 404 unless the caller may see it
    result = documents.instance_documents(db.session, user, instance_id)
    return {"items": [document_json(d, result.superseded_by.get(d.id)) for d in result.items],
            "total": result.total}


@api_bp.get("/documents/<int:document_id>")
@token_required
def api_detail(document_id: int) -> Any:
    """The signed PDF; its record as JSON for a client that prefers application/json."""
    document = documents.get_document(db.session, me_user(), document_id)
    if request.accept_mimetypes.best_match(["application/pdf", "application/json"]) == "application/json":
        newer = documents.superseded_by(db.session, [document]).get(document.id)
        return document_json(document, newer)
    return _downloaded(me_user(), document_id, "api")


@api_bp.get("/documents/<int:document_id>/file")
@token_required
def file(document_id: int) -> Any:
    return _downloaded(me_user(), document_id, "api")


def _downloaded(user: User, document_id: int, via: str) -> Response:
    """The PDF, with its download audited (committed before the file is sent)."""
    document, data = documents.download(db.session, user, document_id, via)
    db.session.commit()
    return _pdf_response(document, data)


@api_bp.get("/documents/<int:document_id>/verify")
@token_required
def check(document_id: int) -> Any:
    document = documents.get_document(db.session, me_user(), document_id)
    result = documents.verify_document(db.session, document)
    return {**result.as_dict(), "message": reason_text(result.reason) if result.reason else None}
