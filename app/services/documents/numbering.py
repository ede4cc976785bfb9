"""Document numbers (NS-WS-<year>-<six digits>, -V<n> for later versions) and verification codes."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import Document, DocumentSequence

PREFIX = "NS-WS"
# Base32 without the look-alikes 0/O and 1/I: 32 symbols, 5 bits each, easy to type.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 10
_VERSION_SUFFIX = re.compile(r"-V\d+$")


def next_number(session: Session, year: int) -> str:
    """The next number of ``year``'s series.

    On PostgreSQL the number is taken in a short transaction of its own, so that concurrent
    issuers do not queue behind each other's rendering and signing (which take the number
    first, as it is printed on every page): numbers are unique and increasing, and a step that
    fails after taking one leaves that number unused. On SQLite, where writers queue anyway,
    it is taken inside the caller's transaction: a rolled-back issue frees its number.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        with Session(bind=bind.engine if hasattr(bind, "engine") else bind) as own, own.begin():
            return _take(own, year)
    return _take(session, year)


def _take(session: Session, year: int) -> str:
    """Bump ``year``'s row (the UPDATE locks it until the transaction ends) or open the year."""
    for _attempt in range(3):
        bumped = session.execute(
            update(DocumentSequence).where(DocumentSequence.year == year)
            .values(last=DocumentSequence.last + 1)
        )
        if bumped.rowcount:  # type: ignore[attr-defined]
            last = session.execute(
                select(DocumentSequence.last).where(DocumentSequence.year == year)
                .execution_options(populate_existing=True)
            ).scalar_one()
            return f"{PREFIX}-{year}-{last:06d}"
        try:
            with session.begin_nested():
                session.add(DocumentSequence(year=year, last=1))
            return f"{PREFIX}-{year}-{1:06d}"
        except IntegrityError:
            continue  # another transaction opened the year first; take the next one
    raise RuntimeError(f"could not take a document number for {year}")


def version_number(superseded: Document) -> str:
    """The number of the version that replaces ``superseded``: same series number, -V<n>."""
    return f"{_VERSION_SUFFIX.sub('', superseded.number)}-V{superseded.version + 1}"


def new_code(session: Session) -> str:
    """A fresh verification code (50 random bits) not used by any document."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if not session.execute(select(exists().where(Document.verification_code == code))).scalar():
            return code


def normalise_code(raw: str) -> str | None:
    """What a person typed ("abcde-fghjk", with spaces) -> the stored form, or None if it
    cannot be a code."""
    code = re.sub(r"[\s\-]", "", raw or "").upper()
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code
