"""Issuing a document: check the context, number it, render, sign, store, record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.errors import ConflictError
from app.models import Document, Organisation, ProcessInstance, User
from app.services import audit
from app.services.articles import article_number
from app.services.clock import clock
from app.services.documents import numbering
from app.services.documents.errors import DocumentError
from app.services.documents.kinds import COMMON_KEYS, KINDS, Kind
from app.services.documents.queries import superseded_by
from app.services.documents.render import LOCAL_TZ, Stamp
from app.services.documents.runtime import current

RESERVED_KEYS = frozenset({"doc"})


def generate(
    session: Session,
    *,
    kind: str,
    context: Mapping[str, Any],
    instance: ProcessInstance | None,
    org: Organisation | None,
    actor: User | None,
    articles: Sequence[str],
    supersedes: Document | None = None,
    title: str | None = None,
) -> Document:
    """Render, sign and store a document of ``kind`` and add its row, in the caller's
    transaction (flush only; the caller commits with the decision the document records).

    ``context`` holds the data the kind's template shows (see ``required_keys``); ``org`` is
    the organisation whose document it is (it sees the document); ``articles`` ("Art. N")
    are the articles it rests on. With ``supersedes``, the new row is the next version of
    that document (same kind), which is then reported as superseded.

    The file is written only after rendering and signing succeeded, and it is
    content-addressed: if the caller's transaction later rolls back, at most an orphan file
    remains, never referenced by any row, and harmless.

    Raises DocumentError when the kind or articles are unknown, a context key is missing,
    the template or layout fails, signing fails, or ``supersedes`` is of another kind;
    ConflictError when ``supersedes`` was already superseded. Nothing is stored then.
    """
    spec = _check(session, kind, context, articles, supersedes)
    runtime = current()
    now = clock.now()
    number = numbering.version_number(supersedes) if supersedes else numbering.next_number(
        session, now.astimezone(LOCAL_TZ).year)
    code = numbering.new_code(session)
    stamp = Stamp(number=number, verification_code=code, version=supersedes.version + 1 if supersedes else 1,
                  verify_url=runtime.verify_url(code), issued_at=now, articles=tuple(articles),
                  supersedes_number=supersedes.number if supersedes else None)
    pdf = runtime.renderer.pdf(runtime.renderer.html(spec, context, stamp))
    signed = runtime.signer.sign(pdf, reason=f"GrantFlow {spec.title_zh} {number} 校验码 {stamp.code_display}")
    key = runtime.store.put(signed)
    document = Document(
        kind=kind, number=number, version=stamp.version, supersedes_id=supersedes.id if supersedes else None,
        instance_id=instance.id if instance else None, org_id=org.id if org else None,
        title=(title or _default_title(spec, context, org))[:300], sha256=key, verification_code=code,
        template_version=runtime.renderer.version, storage_key=key, size=len(signed),
        created_by_id=actor.id if actor else None, created_at=now, articles=list(articles),
    )
    session.add(document)
    session.flush()
    audit.record(session, "document.generated", actor=actor, instance_id=document.instance_id,
                 org_id=document.org_id, at=now,
                 payload={"document_id": document.id, "kind": kind, "number": number, "version": document.version,
                          "sha256": key, "supersedes": supersedes.number if supersedes else None,
                          "articles": list(articles)})
    return document


def required_keys(kind: str) -> tuple[str, ...]:
    """The context keys a ``kind`` needs (common ones first). Raises DocumentError for an unknown kind."""
    return COMMON_KEYS + _kind(kind).required


def _kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise DocumentError(f"unknown document kind {kind!r}")
    return KINDS[kind]


def _check(session: Session, kind: str, context: Mapping[str, Any], articles: Sequence[str],
           supersedes: Document | None) -> Kind:
    spec = _kind(kind)
    missing = [k for k in required_keys(kind) if context.get(k) in (None, "", [], {})]
    if missing:
        raise DocumentError(f"the {kind} context lacks: {', '.join(missing)}")
    clash = RESERVED_KEYS & set(context)
    if clash:
        raise DocumentError(f"context keys reserved for the platform: {', '.join(sorted(clash))}")
    if not articles:
        raise DocumentError("a document must name the articles it rests on")
    try:
        for a in articles:
            article_number(a)
    except ValueError as exc:
        raise DocumentError(str(exc)) from None
    if supersedes is not None:
        if supersedes.kind != kind:
            raise DocumentError(f"a {kind} cannot supersede a {supersedes.kind} ({supersedes.number})")
        newer = superseded_by(session, [supersedes]).get(supersedes.id)
        if newer:
            raise ConflictError(f"{supersedes.number} was already superseded by {newer}")
    return spec


def _default_title(spec: Kind, context: Mapping[str, Any], org: Organisation | None) -> str:
    subject = context.get("subject") or (org.name if org else "")
    return f"{spec.title_zh}（{subject}）" if subject else spec.title_zh
