"""The deployed versions of every process, with their running instances and sources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import NotFoundError
from app.models import ProcessDefinition, ProcessInstance, User
from app.services.designer.access import require_admin


@dataclass(frozen=True)
class VersionInfo:
    version: int
    sha256: str
    comment: str
    deployed_by: str | None  # username; None for the command line
    deployed_at: datetime
    running_instances: int


@dataclass(frozen=True)
class ProcessVersions:
    process_key: str
    name: str  # the newest version's name
    versions: list[VersionInfo]  # newest first


@dataclass(frozen=True)
class VersionFiles:
    process_key: str
    version: int
    files: dict[str, str]  # file name -> BPMN/DMN XML
    meta: dict[str, Any]  # start form, start roles, articles, user tasks


def versions(session: Session, user: User) -> list[ProcessVersions]:
    """Every process by key, its versions newest first, each with its running instances.
    Raises ForbiddenError for non-admins."""
    require_admin(user)
    running = {definition_id: number for definition_id, number in session.execute(
        select(ProcessInstance.definition_id, func.count(ProcessInstance.id))
        .where(ProcessInstance.status == "running")
        .group_by(ProcessInstance.definition_id)
    )}
    rows = session.execute(
        select(ProcessDefinition, User.username)
        .outerjoin(User, User.id == ProcessDefinition.deployed_by_id)
        .order_by(ProcessDefinition.process_key, ProcessDefinition.version.desc())
    ).all()
    grouped: dict[str, ProcessVersions] = {}
    for definition, username in rows:
        entry = grouped.get(definition.process_key)
        if entry is None:
            entry = grouped[definition.process_key] = ProcessVersions(definition.process_key, definition.name, [])
        entry.versions.append(VersionInfo(
            version=definition.version, sha256=definition.sha256, comment=definition.comment or "",
            deployed_by=username, deployed_at=definition.deployed_at,
            running_instances=running.get(definition.id, 0),
        ))
    return list(grouped.values())


def get_definition(session: Session, process_key: str, version: int) -> ProcessDefinition:
    """Version ``version`` of ``process_key``. Raises NotFoundError."""
    definition = session.execute(
        select(ProcessDefinition).where(ProcessDefinition.process_key == process_key,
                                        ProcessDefinition.version == version)
    ).scalar_one_or_none()
    if definition is None:
        raise NotFoundError(f"Process {process_key} has no version {version}.")
    return definition


def version_files(session: Session, user: User, process_key: str, version: int) -> VersionFiles:
    """The deployed files and metadata of one version.
    Raises ForbiddenError for non-admins, NotFoundError when there is no such version."""
    require_admin(user)
    definition = get_definition(session, process_key, version)
    return VersionFiles(process_key=definition.process_key, version=definition.version,
                        files=dict(definition.source), meta=dict(definition.meta))
