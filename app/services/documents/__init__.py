"""Documents: signed, verifiable PDFs (agreements, reports, opinions, filings, orders, notices).

A process step calls ``generate`` inside the transaction that records its decision; the
desk and the API call ``list_documents``/``get_document``/``read_file``/``preview_png``;
anyone may call ``verify_code``/``verify_pdf``. ``configure`` is called when the app is made.
"""

from app.services.documents.errors import DocumentError
from app.services.documents.generation import generate, required_keys
from app.services.documents.kinds import KINDS, Kind
from app.services.documents.parties import party
from app.services.documents.queries import (
    ALL_DOCUMENTS_ROLES,
    DocumentFilters,
    DocumentPage,
    download,
    filter_choices,
    get_document,
    instance_documents,
    list_documents,
    preview_png,
    read_file,
    superseded_by,
    versions,
    visible_clause,
)
from app.services.documents.runtime import configure, current
from app.services.documents.signing import SignatureCheck
from app.services.documents.store import FileStore, LocalFileStore, MemoryFileStore
from app.services.documents.verification import (
    REASONS,
    DocumentInfo,
    Verification,
    verify_code,
    verify_document,
    verify_pdf,
)

__all__ = [
    "ALL_DOCUMENTS_ROLES",
    "KINDS",
    "REASONS",
    "DocumentError",
    "DocumentFilters",
    "DocumentInfo",
    "DocumentPage",
    "download",
    "FileStore",
    "Kind",
    "LocalFileStore",
    "MemoryFileStore",
    "SignatureCheck",
    "Verification",
    "configure",
    "current",
    "filter_choices",
    "generate",
    "get_document",
    "instance_documents",
    "list_documents",
    "party",
    "preview_png",
    "read_file",
    "required_keys",
    "superseded_by",
    "verify_code",
    "verify_document",
    "verify_pdf",
    "versions",
    "visible_clause",
]
