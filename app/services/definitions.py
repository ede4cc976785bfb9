"""Deploying process definitions (BPMN/DMN) and reading what is deployed."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import engine
from app.errors import DefinitionError, NotFoundError
from app.models import ProcessDefinition, User
from app.services import audit, form_versions
from app.services.actions import ACTION_NAMES
from app.services.articles import ARTICLES
from app.services.clock import clock
from app.services.roles import ROLES


def source_hash(files: dict[str, str]) -> str:
    """SHA-256 over the files' names and contents, independent of their order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


def deploy(
    session: Session, files: dict[str, bytes], *, actor: User | None, comment: str = ""
) -> tuple[ProcessDefinition, bool]:
    """Validate and store a new version of the process in ``files``.

    Returns (definition, created). Identical content returns the existing version with
    created=False. Raises DefinitionError naming each offending element; nothing is stored.
    """
    info = engine.compile_definition(
        files,
        known_roles=set(ROLES),
        known_forms=form_versions.known_keys(session),
        known_articles=set(ARTICLES),
        known_actions=set(ACTION_NAMES),
    )
    texts = {name: content.decode("utf-8") for name, content in files.items()}
    sha = source_hash(texts)
    existing = session.execute(
        select(ProcessDefinition).where(
            ProcessDefinition.process_key == info.process_key, ProcessDefinition.sha256 == sha
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    version = (
        session.execute(
            select(func.max(ProcessDefinition.version)).where(
                ProcessDefinition.process_key == info.process_key
            )
        ).scalar_one_or_none()
        or 0
    ) + 1
    definition = ProcessDefinition(
        process_key=info.process_key,
        version=version,
        name=info.name,
        source=texts,
        sha256=sha,
        spec_json=info.spec_json,
        meta=_meta(info),
        comment=comment[:500],
        deployed_by_id=actor.id if actor else None,
        deployed_at=clock.now(),
    )
    session.add(definition)
    session.flush()
    audit.record(
        session,
        "definition.deployed",
        actor=actor,
        payload={"process_key": info.process_key, "version": version, "sha256": sha},
    )
    return definition, True


def deploy_directory(session: Session, folder: Path, *, actor: User | None = None) -> list[tuple[ProcessDefinition, bool]]:
    """Deploy every ``*.bpmn`` in ``folder``, each with the ``*.dmn`` files whose decisions it
    calls (so a changed decision table versions only the processes that use it). The forms in
    ``forms/`` are stored first, as versions of their keys (unchanged files: nothing new)."""
    form_versions.seed(session)
    decisions = {p.name: (set(_DECISION_ID.findall(p.read_text(encoding="utf-8"))), p.read_bytes())
                 for p in sorted(folder.glob("*.dmn"))}
    results = []
    for path in sorted(folder.glob("*.bpmn")):
        called = {a or b for a, b in _CALLED_DECISION.findall(path.read_text(encoding="utf-8"))}
        dmn = {name: content for name, (ids, content) in decisions.items() if ids & called}
        try:
            results.append(deploy(session, {path.name: path.read_bytes(), **dmn}, actor=actor))
        except DefinitionError as exc:
            raise DefinitionError(f"{path.name}: {exc.message}", exc.errors) from exc
    return results


_DECISION_ID = re.compile(r"<(?:\w+:)?decision\s[^>]*\bid=\"([^\"]+)\"")
_CALLED_DECISION = re.compile(r"calledDecisionId>\s*([^<\s]+)\s*<|calledDecisionId=\"([^\"]+)\"")


def _meta(info: Any) -> dict[str, Any]:
    return {
        "start_form_key": info.start_form_key,
        "start_roles": list(info.start_roles),
        "articles": list(info.articles),
        "tasks": {key: _jsonable(asdict(meta)) for key, meta in info.tasks.items()},
    }


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def latest(session: Session, process_key: str) -> ProcessDefinition:
    """The newest version of a process. Raises NotFoundError."""
    definition = session.execute(
        select(ProcessDefinition)
        .where(ProcessDefinition.process_key == process_key)
        .order_by(ProcessDefinition.version.desc())
        .limit(1)
    ).scalar_one_or_none()
    if definition is None:
        raise NotFoundError(f"no process {process_key!r}")
    return definition


def latest_all(session: Session) -> list[ProcessDefinition]:
    """The newest version of every deployed process, by key."""
    newest = (
        select(ProcessDefinition.process_key, func.max(ProcessDefinition.version).label("v"))
        .group_by(ProcessDefinition.process_key)
        .subquery()
    )
    return list(
        session.execute(
            select(ProcessDefinition)
            .join(newest, (ProcessDefinition.process_key == newest.c.process_key)
                  & (ProcessDefinition.version == newest.c.v))
            .order_by(ProcessDefinition.process_key)
        ).scalars()
    )

