"""Validating and deploying diagrams sent by the designer (or any API client).

Both run exactly the checks of ``flask deploy-workflows`` (the engine's lint plus the known
roles, forms, articles and actions, through :func:`app.services.definitions.deploy`), and
also refuse names too long for the database columns they end up in, so that a refusal is
always a 422 naming the element and never a database error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app import engine
from app.engine import ProcessInfo
from app.errors import DefinitionError, ElementError
from app.models import HumanTask, ProcessDefinition, User
from app.services import definitions, form_versions, forms
from app.services.actions import ACTION_NAMES
from app.services.articles import ARTICLES
from app.services.designer.access import require_admin
from app.services.roles import ROLES

MAX_FILES = 20
FILE_NAME = re.compile(r"^[^/\\:*?\"<>|\x00-\x1f]{1,200}\.(bpmn|dmn)$")


@dataclass(frozen=True)
class DeployResult:
    process_key: str
    version: int
    sha256: str
    created: bool  # False: identical content was already deployed as ``version``


def validate(files: Mapping[str, Any], session: Session | None = None) -> list[ElementError]:
    """Every problem that would refuse deploying ``files`` (name -> XML text or bytes); an
    empty list when they would deploy. With a session, forms stored only in the database
    count too. Stores nothing; never raises for bad input."""
    try:
        check(files, session)
    except DefinitionError as exc:
        return list(exc.errors)
    return []


def check(files: Mapping[str, Any], session: Session | None = None) -> ProcessInfo:
    """Compile ``files`` with every deploy-time check. Raises DefinitionError."""
    info = engine.compile_definition(
        encode(files),
        known_roles=set(ROLES),
        known_forms=form_versions.known_keys(session) if session is not None else forms.get_registry().keys,
        known_articles=set(ARTICLES),
        known_actions=set(ACTION_NAMES),
    )
    problems = _column_problems(info)
    if problems:
        raise DefinitionError(f"The process definition has {len(problems)} problem(s)", problems)
    return info


def deploy(session: Session, user: User, files: Mapping[str, Any], comment: str = "") -> DeployResult:
    """Store ``files`` as a new version of their process, or find the identical version.

    Flushes; the caller commits. Raises ForbiddenError for non-admins and DefinitionError
    naming each offending element (nothing is stored then).
    """
    require_admin(user)
    check(files, session)
    definition, created = definitions.deploy(session, encode(files), actor=user, comment=comment or "")
    return DeployResult(definition.process_key, definition.version, definition.sha256, created)


def encode(files: Mapping[str, Any]) -> dict[str, bytes]:
    """The files as name -> UTF-8 bytes; raises DefinitionError for unusable names or contents."""
    if not isinstance(files, Mapping) or not files:
        raise DefinitionError("No file was uploaded.", [ElementError(None, "no BPMN file was uploaded")])
    if len(files) > MAX_FILES:
        raise DefinitionError("Too many files.", [ElementError(None, f"at most {MAX_FILES} files per deployment")])
    encoded: dict[str, bytes] = {}
    errors: list[ElementError] = []
    for name, content in files.items():
        label = str(name)[:100]
        if not isinstance(name, str) or not FILE_NAME.match(name):
            errors.append(ElementError(None, f"{label}: file names must end in .bpmn or .dmn (no folders)"))
        elif isinstance(content, bytes | bytearray):
            encoded[name] = bytes(content)
        elif isinstance(content, str):
            try:
                encoded[name] = content.encode("utf-8")
            except UnicodeEncodeError:
                errors.append(ElementError(None, f"{label}: the file is not valid Unicode text"))
        else:
            errors.append(ElementError(None, f"{label}: the content must be the XML text"))
    if errors:
        raise DefinitionError("The upload cannot be used.", errors)
    return encoded


def _column_problems(info: ProcessInfo) -> list[ElementError]:
    """Values longer than the columns that will hold them (process and inbox rows)."""
    process_key = _limit(ProcessDefinition, "process_key")
    name = _limit(ProcessDefinition, "name")
    spec_id, title = _limit(HumanTask, "spec_id"), _limit(HumanTask, "title")
    problems = []
    if len(info.process_key) > process_key:
        problems.append(ElementError(info.process_key[:100], f"the process id is longer than {process_key} characters"))
    if len(info.name) > name:
        problems.append(ElementError(info.process_key[:100], f"the process name is longer than {name} characters"))
    for meta in info.tasks.values():
        if len(meta.spec_id) > spec_id:
            problems.append(ElementError(meta.spec_id[:100], f"the element id is longer than {spec_id} characters"))
        if len(meta.title) > title:
            problems.append(ElementError(meta.spec_id[:100], f"the name is longer than {title} characters"))
    return problems


def _limit(model: Any, column: str) -> int:
    """The length of a String column."""
    return int(model.__table__.c[column].type.length)
