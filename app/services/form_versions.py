"""Versions of the forms in the database: the form a key means now, the one a task was
created with, the seed from ``forms/*.json`` and storing a new version.

The newest stored version of a key is its current form; a key never stored (a file in
``forms/`` not seeded yet) falls back to the file. Stored versions never change, so their
validators are cached by content hash. Every function flushes and never commits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import Select, bindparam, event, func, select
from sqlalchemy.orm import Session

from app.errors import NotFoundError
from app.models import FormVersion, HumanTask, User
from app.services import audit, forms
from app.services.clock import clock

_VALIDATORS: dict[str, Draft202012Validator] = {}
_MAX_CACHED = 512
# Stored versions read so far, per database engine (a test's or a bench's fresh database has
# its own engine, so versions of another database are never mistaken for its own).
_STORED: WeakKeyDictionary[Any, dict[tuple[str, int], Form]] = WeakKeyDictionary()
_NEW = "form_versions.new"  # session.info key: the versions the open transaction has stored


@event.listens_for(Session, "after_transaction_end")
def _forget_new(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_NEW, None)


@dataclass(frozen=True)
class VersionInfo:
    key: str
    version: int
    sha256: str
    comment: str
    created_by: str | None  # username; None when seeded from forms/
    created_at: datetime


@dataclass(frozen=True)
class Form:
    key: str
    version: int | None  # None: the file in forms/, never stored
    schema: dict[str, Any]
    sha256: str
    info: VersionInfo | None = None  # who stored it, when, why; None for the file


@dataclass(frozen=True)
class FormSummary:
    key: str
    title: str
    title_en: str
    latest: VersionInfo | None  # None: only the file in forms/
    versions: int
    in_files: bool  # forms/<key>.json exists (the seed)


def canonical_json(schema: Any) -> str:
    """The schema as compact JSON with sorted keys, except that the fields keep their order
    (``properties`` maps), because that is the order the form shows them in."""
    return json.dumps(_canonical(schema, keep_order=False), ensure_ascii=False, separators=(",", ":"))


def _canonical(value: Any, *, keep_order: bool) -> Any:
    if isinstance(value, dict):
        items = list(value.items()) if keep_order else sorted(value.items())
        return {k: _canonical(v, keep_order=(k == "properties")) for k, v in items}
    if isinstance(value, list):
        return [_canonical(v, keep_order=False) for v in value]
    return value


def content_hash(schema: Any) -> str:
    """SHA-256 of :func:`canonical_json`: equal for schemas that show and check the same."""
    return hashlib.sha256(canonical_json(schema).encode("utf-8")).hexdigest()


def _form(row: FormVersion) -> Form:
    return Form(row.form_key, row.version, row.schema, row.sha256, _info(row))


def _newest_row(session: Session, key: str) -> FormVersion | None:
    return session.execute(
        select(FormVersion).where(FormVersion.form_key == key).order_by(FormVersion.version.desc()).limit(1)
    ).scalar_one_or_none()


def current(session: Session, key: str) -> Form:
    """The form ``key`` means now: its newest stored version, else its file. Raises NotFoundError."""
    row = _newest_row(session, key)
    if row is not None:
        return _form(row)
    schema = forms.get_registry().get(key)  # NotFoundError when there is no file either
    return Form(key, None, schema, content_hash(schema))


def get(session: Session, key: str, version: int) -> Form:
    """Stored version ``version`` of form ``key``. Raises NotFoundError.

    Stored versions never change, so each is read once per database engine (every completion
    checks its data against the version its task was created with)."""
    cache = _STORED.setdefault(session.get_bind(), {})
    found = cache.get((key, version))
    if found is not None:
        return found
    row = session.execute(_version_statement(), {"key": key, "version": version}).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"form {key!r} has no version {version}")
    form = _form(row)
    if (key, version) in session.info.get(_NEW, ()):
        return form  # stored by this very transaction, which may yet roll back: not cached
    if len(cache) >= _MAX_CACHED:
        cache.clear()
    cache[(key, version)] = form
    return form


def of_task(session: Session, task: HumanTask) -> Form | None:
    """The form a task shows and checks: the version it was created with, or the current
    form for a task that recorded none. None for a task without a form."""
    if not task.form_key:
        return None
    if task.form_version is not None:
        return get(session, task.form_key, task.form_version)
    return current(session, task.form_key)


def newest_version(session: Session, key: str) -> int | None:
    """The newest stored version number of ``key``; None when it was never stored."""
    return session.execute(_newest_statement(), {"key": key}).scalar_one()


@cache
def _version_statement() -> Select[FormVersion]:
    return select(FormVersion).where(FormVersion.form_key == bindparam("key"), FormVersion.version == bindparam("version"))


@cache
def _newest_statement() -> Select[int | None]:
    """Built once: every step that opens tasks asks (constructing costs more than answering)."""
    return select(func.max(FormVersion.version)).where(FormVersion.form_key == bindparam("key"))


def known_keys(session: Session) -> set[str]:
    """Every form key a diagram may name: the files and the stored forms."""
    stored = session.execute(select(FormVersion.form_key).distinct()).scalars()
    return forms.get_registry().keys | set(stored)


def validate(session: Session, key: str, data: Any, version: int | None = None) -> dict[str, Any]:
    """Return ``data`` if it satisfies form ``key`` (version ``version``, else the current one).

    Raises ValidationError with one FieldError per problem, NotFoundError for an unknown form.
    """
    form = get(session, key, version) if version is not None else current(session, key)
    return forms.validate_with(validator(form), data)


def validator(form: Form) -> Draft202012Validator:
    """A validator for ``form``, built once per content."""
    found = _VALIDATORS.get(form.sha256)
    if found is None:
        if len(_VALIDATORS) >= _MAX_CACHED:
            _VALIDATORS.clear()
        found = _VALIDATORS[form.sha256] = Draft202012Validator(form.schema, format_checker=FormatChecker())
    return found


def history(session: Session, key: str) -> list[VersionInfo]:
    """The stored versions of ``key``, newest first (empty for a form never stored)."""
    rows = session.execute(
        select(FormVersion).where(FormVersion.form_key == key).order_by(FormVersion.version.desc())
    ).scalars()
    return [_info(row) for row in rows]


def _info(row: FormVersion) -> VersionInfo:
    return VersionInfo(row.form_key, row.version, row.sha256, row.comment or "",
                       row.created_by.username if row.created_by else None, row.created_at)


def summaries(session: Session) -> list[FormSummary]:
    """Every form by key (stored or only in forms/), with its newest version."""
    counts: dict[str, int] = {key: n for key, n in session.execute(
        select(FormVersion.form_key, func.count(FormVersion.id)).group_by(FormVersion.form_key)
    )}
    newest = select(FormVersion.form_key, func.max(FormVersion.version).label("v")).group_by(FormVersion.form_key)
    sub = newest.subquery()
    rows = {row.form_key: row for row in session.execute(
        select(FormVersion).join(sub, (FormVersion.form_key == sub.c.form_key) & (FormVersion.version == sub.c.v))
    ).scalars()}
    files = forms.get_registry()
    out = []
    for key in sorted(set(rows) | files.keys):
        row = rows.get(key)
        schema = row.schema if row is not None else files.get(key)
        title = str(schema.get("title") or key)
        out.append(FormSummary(key=key, title=title, title_en=str(schema.get("x-title-en") or title),
                               latest=_info(row) if row is not None else None, versions=counts.get(key, 0),
                               in_files=key in files.keys))
    return out


def store(session: Session, key: str, schema: dict[str, Any], *, actor: User | None,
          comment: str = "") -> tuple[FormVersion, bool]:
    """Store ``schema`` as the next version of ``key``, or find the stored version with the
    same content (created=False). The first version stored for a key that has a file in
    ``forms/`` is that file, so that the history starts with the form tasks had until then.
    Records an audit entry per new version. The caller checks the schema beforehand."""
    if actor is not None and newest_version(session, key) is None and key in forms.get_registry().keys:
        store(session, key, forms.get_registry().get(key), actor=None, comment=f"forms/{key}.json")
    sha = content_hash(schema)
    existing = session.execute(
        select(FormVersion).where(FormVersion.form_key == key, FormVersion.sha256 == sha)
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    row = FormVersion(form_key=key, version=(newest_version(session, key) or 0) + 1, schema=schema, sha256=sha,
                      comment=comment[:500], created_by_id=actor.id if actor else None, created_at=clock.now())
    session.add(row)
    session.flush()
    session.info.setdefault(_NEW, set()).add((key, row.version))
    audit.record(session, "form.saved", actor=actor,
                 payload={"form_key": key, "version": row.version, "sha256": sha, "comment": row.comment})
    return row, True


def seed(session: Session) -> list[tuple[FormVersion, bool]]:
    """Store every ``forms/*.json`` whose content is not stored yet (version 1 the first time;
    identical content changes nothing). Called when workflows are deployed."""
    registry = forms.get_registry()
    return [store(session, key, registry.get(key), actor=None, comment=f"forms/{key}.json")
            for key in sorted(registry.keys)]
