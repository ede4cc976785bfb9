"""Is this document genuine? By verification code, by uploaded PDF, or for a stored row."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Document
from app.services.documents import numbering
from app.services.documents.errors import DocumentError
from app.services.documents.kinds import KINDS
from app.services.documents.queries import stored_bytes, superseded_by
from app.services.documents.runtime import current
from app.services.documents.signing import SignatureCheck
from app.services.documents.store import content_key

# Why a document is not genuine (stable codes; the web shows them in the reader's language).
REASONS = (
    "malformed_code",  # the text cannot be a verification code
    "unknown_code",  # no document carries this code
    "unknown_file",  # the uploaded file is not one the platform issued
    "content_mismatch",  # it claims to be an issued document but its bytes differ
    "signature_invalid",  # the platform's signature is missing, broken or not the platform's
    "stored_file_damaged",  # the platform's own copy is missing or altered
)
_CLAIMED_CODE = re.compile(r"校验码 ([0-9A-Z]{5}-[0-9A-Z]{5})")


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    number: str
    kind: str
    kind_title: str
    version: int
    title: str
    created_at: datetime

    @classmethod
    def of(cls, d: Document) -> DocumentInfo:
        return cls(d.id, d.number, d.kind, KINDS[d.kind].title_zh, d.version, d.title, d.created_at)


@dataclass(frozen=True)
class Verification:
    """The answer to "is this genuine?". ``document`` is the issued document that the code or
    file names (also when the file differs from it); ``signature`` is set for PDF checks."""

    genuine: bool
    document: DocumentInfo | None = None
    superseded_by: str | None = None
    reason: str | None = None
    signature: SignatureCheck | None = None

    def as_dict(self) -> dict[str, Any]:
        d = self.document
        sig = self.signature
        return {
            "genuine": self.genuine,
            "reason": self.reason,
            "document": None if d is None else {
                "id": d.id, "number": d.number, "kind": d.kind, "kind_title": d.kind_title,
                "version": d.version, "title": d.title, "created_at": d.created_at.isoformat()},
            "superseded": self.superseded_by is not None,
            "superseded_by": self.superseded_by,
            "signature": None if sig is None else {
                "present": sig.present, "valid": sig.intact and sig.valid, "trusted": sig.trusted,
                "covers_whole_file": sig.covers_whole_file, "signer": sig.signer,
                "signed_at": sig.signed_at.isoformat() if sig.signed_at else None},
        }


def _answer(session: Session, document: Document, *, genuine: bool, reason: str | None = None,
            signature: SignatureCheck | None = None) -> Verification:
    newer = superseded_by(session, [document]).get(document.id)
    return Verification(genuine, DocumentInfo.of(document), newer, reason, signature)


def verify_document(session: Session, document: Document) -> Verification:
    """Check the platform's stored copy of ``document``: present, unchanged, validly signed."""
    try:
        data = stored_bytes(document)
    except DocumentError:
        return _answer(session, document, genuine=False, reason="stored_file_damaged")
    signature = current().signer.check(data)
    if not signature.sound:
        return _answer(session, document, genuine=False, reason="stored_file_damaged", signature=signature)
    return _answer(session, document, genuine=True, signature=signature)


def verify_code(session: Session, code: str) -> Verification:
    """Look up the document carrying verification ``code`` (as typed: case, spaces and dashes
    do not matter) and check the stored copy."""
    normal = numbering.normalise_code(code)
    if normal is None:
        return Verification(False, reason="malformed_code")
    document = session.execute(select(Document).where(Document.verification_code == normal)).scalar_one_or_none()
    if document is None:
        return Verification(False, reason="unknown_code")
    return verify_document(session, document)


def verify_pdf(session: Session, data: bytes) -> Verification:
    """Is ``data`` exactly a document the platform issued, with its signature intact?

    A file that differs by one byte is not genuine: its SHA-256 matches no issued document.
    When its signature names an issued document, that document is reported as the one the
    file claims to be (reason ``content_mismatch``).
    """
    signature = current().signer.check(data)
    document = session.execute(select(Document).where(Document.sha256 == content_key(data))).scalar_one_or_none()
    if document is None:
        claimed = _claimed(session, signature)
        if claimed is None:
            return Verification(False, reason="unknown_file", signature=signature)
        return _answer(session, claimed, genuine=False, reason="content_mismatch", signature=signature)
    # The bytes are exactly what was issued; the signature must still be sound. Whether it
    # chains to today's platform certificate is reported, not required (keys get rotated).
    if not signature.sound:
        return _answer(session, document, genuine=False, reason="signature_invalid", signature=signature)
    return _answer(session, document, genuine=True, signature=signature)


def _claimed(session: Session, signature: SignatureCheck) -> Document | None:
    match = _CLAIMED_CODE.search(signature.reason or "")
    code = numbering.normalise_code(match.group(1)) if match else None
    if code is None:
        return None
    return session.execute(select(Document).where(Document.verification_code == code)).scalar_one_or_none()
