"""Who sees which documents; listing, fetching, and the page-1 preview."""

from __future__ import annotations

import shutil
import subprocess  # noqa: S404 - runs pdftoppm, a fixed local binary, on our own files
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, true
from sqlalchemy.orm import Session

from app.errors import NotFoundError
from app.models import Document, Organisation, ProcessDefinition, ProcessInstance, User
from app.services.access import instance_visible_clause
from app.services.clock import within_local_days
from app.services.documents.errors import DocumentError
from app.services.documents.runtime import current
from app.services.documents.store import content_key

# Roles that see every document: the document officer's desk, oversight.
ALL_DOCUMENTS_ROLES = frozenset({"document_officer", "authority", "admin"})
PREVIEW_VARIANT = "page1.png"


@dataclass(frozen=True)
class DocumentFilters:
    kind: str | None = None
    process_key: str | None = None
    org_id: int | None = None
    instance_id: int | None = None
    date_from: date | None = None  # local (Asia/Shanghai) calendar days, inclusive
    date_to: date | None = None


@dataclass(frozen=True)
class DocumentPage:
    items: list[Document]
    total: int
    page: int
    per_page: int
    superseded_by: dict[int, str]  # document id -> number of the version that replaced it


def visible_clause(user: User) -> ColumnElement[bool]:
    """SQL condition: the user may see the document.

    Document officers, the authority and admins see all; everyone sees the documents of
    their own organisation (or one they act for) and those of the cases they may see: the
    operator those of the processes it runs, a joint-meeting unit the compliance report of
    the request it reviews.
    """
    if user.roles & ALL_DOCUMENTS_ROLES:
        return true()
    cases = select(ProcessInstance.id).where(instance_visible_clause(user))
    return or_(Document.org_id.in_(sorted(user.acting_org_ids)), Document.instance_id.in_(cases))


def _filtered(user: User, f: DocumentFilters) -> Select[Any]:
    query = select(Document).where(visible_clause(user))
    if f.kind:
        query = query.where(Document.kind == f.kind)
    if f.org_id:
        query = query.where(Document.org_id == f.org_id)
    if f.instance_id:
        query = query.where(Document.instance_id == f.instance_id)
    if f.process_key:
        query = query.where(Document.instance_id.in_(
            select(ProcessInstance.id).where(ProcessInstance.process_key == f.process_key)))
    return query.where(within_local_days(Document.created_at, f.date_from, f.date_to))


def list_documents(session: Session, user: User, filters: DocumentFilters | None = None, *,
                   page: int = 1, per_page: int = 20) -> DocumentPage:
    """The user's visible documents, newest first, one page of them."""
    query = _filtered(user, filters or DocumentFilters())
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = list(session.execute(
        query.order_by(Document.created_at.desc(), Document.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).scalars())
    return DocumentPage(rows, total, page, per_page, superseded_by(session, rows))


# A case's documents are few (a version chain per kind): one page holds them all.
CASE_DOCUMENTS_LIMIT = 1000


def instance_documents(session: Session, user: User, instance_id: int) -> DocumentPage:
    """The documents issued in one case that the user may see, newest first."""
    return list_documents(session, user, DocumentFilters(instance_id=instance_id), per_page=CASE_DOCUMENTS_LIMIT)


def get_document(session: Session, user: User, document_id: int) -> Document:
    """One document the user may see. Raises NotFoundError otherwise (existence not revealed)."""
    document = session.execute(
        select(Document).where(Document.id == document_id, visible_clause(user))
    ).scalar_one_or_none()
    if document is None:
        raise NotFoundError("no such document")
    return document


def read_file(session: Session, user: User, document_id: int) -> tuple[Document, bytes]:
    """The signed PDF of a visible document. Raises NotFoundError, or DocumentError when the
    stored file is missing or no longer matches its recorded SHA-256."""
    document = get_document(session, user, document_id)
    return document, stored_bytes(document)


def download(session: Session, user: User, document_id: int, via: str) -> tuple[Document, bytes]:
    """The signed PDF of a visible document, with an audit entry "document.downloaded" in the
    caller's transaction (the caller commits before sending the file). ``via`` names the
    route (page, api). Raises like ``read_file``."""
    from app.services import audit

    document, data = read_file(session, user, document_id)
    audit.record(session, "document.downloaded", actor=user, instance_id=document.instance_id, org_id=document.org_id,
                 payload={"document_id": document.id, "number": document.number, "sha256": document.sha256, "via": via})
    return document, data


def stored_bytes(document: Document) -> bytes:
    data = current().store.get(document.storage_key)
    if content_key(data) != document.sha256:
        raise DocumentError(f"the stored file of {document.number} does not match its SHA-256")
    return data


def superseded_by(session: Session, documents: Sequence[Document]) -> dict[int, str]:
    """For each given document that was superseded, the number of its replacement."""
    ids = [d.id for d in documents]
    if not ids:
        return {}
    rows = session.execute(
        select(Document.supersedes_id, Document.number).where(Document.supersedes_id.in_(ids))
    ).all()
    return {sid: number for sid, number in rows if sid is not None}


def versions(session: Session, document: Document) -> list[Document]:
    """Every version of ``document``'s chain, oldest first."""
    chain = [document]
    while chain[0].supersedes_id is not None:
        older = session.get(Document, chain[0].supersedes_id)
        if older is None:
            break
        chain.insert(0, older)
    while True:
        newer = session.execute(select(Document).where(Document.supersedes_id == chain[-1].id)).scalar_one_or_none()
        if newer is None:
            return chain
        chain.append(newer)


def filter_choices(session: Session, user: User) -> tuple[list[tuple[str, str]], list[Organisation]]:
    """The processes (key, name) and organisations found among the user's visible documents."""
    visible = select(Document.id).where(visible_clause(user))
    rows = session.execute(
        select(ProcessInstance.process_key, ProcessDefinition.name)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .join(Document, Document.instance_id == ProcessInstance.id)
        .where(Document.id.in_(visible)).distinct()
    ).all()
    processes = sorted({key: name for key, name in rows}.items())
    orgs = session.execute(
        select(Organisation).join(Document, Document.org_id == Organisation.id)
        .where(Document.id.in_(visible)).distinct().order_by(Organisation.code)
    ).scalars().all()
    return processes, list(orgs)


def preview_png(session: Session, user: User, document_id: int) -> bytes | None:
    """Page 1 as a PNG (60 dpi), cached beside the file; None when pdftoppm is not installed.

    Raises NotFoundError for a document the user may not see, DocumentError when the stored
    file is damaged or pdftoppm fails.
    """
    document = get_document(session, user, document_id)
    store = current().store
    cached = store.get_variant(document.storage_key, PREVIEW_VARIANT)
    if cached is not None:
        return cached
    png = render_page_one(stored_bytes(document))
    if png is not None:
        store.put_variant(document.storage_key, PREVIEW_VARIANT, png)
    return png


def render_page_one(pdf: bytes, dpi: int = 60) -> bytes | None:
    """Page 1 of ``pdf`` as PNG via poppler's pdftoppm, or None when it is not installed."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="gf-preview-") as tmp:
        source, target = Path(tmp) / "doc.pdf", Path(tmp) / "page"
        source.write_bytes(pdf)
        try:
            subprocess.run(  # noqa: S603 - fixed argv, no shell, our own file
                [exe, "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(source), str(target)],
                check=True, capture_output=True, timeout=60,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise DocumentError(f"the preview could not be rendered: {exc}") from exc
        return (Path(tmp) / "page.png").read_bytes()
